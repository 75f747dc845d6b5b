"""``make check-models``: ask each provider which models it lists, and compare with the registry.

Live and not part of ``make test``. A provider without a key is skipped with one line. Reports
every default that the provider does not list, or that carries a ``shutdown_date`` (OpenAI sets
it once a shutdown is announced). Exits non-zero when something needs attention.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import openai
from dotenv import load_dotenv
from openai import OpenAI

from ..providers import PROVIDERS, Provider


def default_findings(provider: Provider, listed: Iterable[Any]) -> list[str]:
    """One line per default that is missing from ``listed`` or has a shutdown date there."""
    by_id = {model.id: model for model in listed}
    findings = []
    for model_id in provider.default_model_ids():
        model = by_id.get(model_id)
        if model is None:
            findings.append(f"{provider.name}/{model_id}：不在服务商的模型列表里（下线了，或这把密钥/地域不能用）")
        elif getattr(model, "shutdown_date", None):
            findings.append(f"{provider.name}/{model_id}：服务商公布了下线日期 {model.shutdown_date}")
    return findings


def check_provider(provider: Provider, env: Mapping[str, str]) -> list[str] | None:
    """The findings for one provider, or ``None`` when it could not be asked (reason printed)."""
    api_key = provider.api_key(env)
    if api_key is None:
        print(f"{provider.name}：没有 {provider.key_env}，跳过。")
        return None
    client = OpenAI(api_key=api_key, base_url=provider.base_url(env), max_retries=0, timeout=30)
    try:
        listed = list(client.models.list())
    except openai.APIStatusError as error:
        print(f"{provider.name}：列出模型失败，HTTP {error.status_code}，跳过。")
        return None
    except openai.APIConnectionError:
        print(f"{provider.name}：连不上 {provider.base_url(env)}，跳过。")
        return None
    findings = default_findings(provider, listed)
    print(f"{provider.name}：列出 {len(listed)} 个模型；默认模型 {'、'.join(provider.default_model_ids())}。")
    return findings


def main(env: Mapping[str, str] | None = None) -> int:
    load_dotenv()
    env = os.environ if env is None else env
    findings: list[str] = []
    asked = 0
    for provider in PROVIDERS.values():
        result = check_provider(provider, env)
        if result is not None:
            asked += 1
            findings += result
    for line in findings:
        print("需要处理：", line)
    if findings:
        print(f"共 {len(findings)} 处需要更新 tutorial_kit/providers.py。")
    elif asked:
        print(f"查询了 {asked} 个服务商：默认模型都在列表里，且没有下线日期。")
    else:
        print("没有可以查询的服务商：在 .env 里填上密钥（或启动本地服务器）后再运行。")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
