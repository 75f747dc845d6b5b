"""The provider registry: base URLs, key variables and default models per task."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import KitError

LOCAL_API_KEY = "sk-local"
"""The fixed, public key the project's local server asks for (not a secret)."""

REPLAY_API_KEY = "sk-replay"
"""Placeholder the SDK gets in replay mode; requests never leave the machine then."""


@dataclass(frozen=True)
class Models:
    """Default model id per task; ``None`` where the provider has no such model."""

    chat: str
    completion: str | None
    code: str
    vision: str | None
    video: str | None


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    default_base_url: str
    base_url_env: str
    key_env: str | None
    models: Models
    docs_url: str

    def base_url(self, env: Mapping[str, str] = os.environ) -> str:
        return env.get(self.base_url_env) or self.default_base_url

    def api_key(self, env: Mapping[str, str] = os.environ) -> str | None:
        """The learner's key, or the local server's fixed key; ``None`` if missing."""
        if self.key_env is None:
            return env.get("LOCAL_API_KEY") or LOCAL_API_KEY
        return env.get(self.key_env) or None


PROVIDERS: dict[str, Provider] = {
    "dashscope": Provider(
        name="dashscope",
        label="通义千问（阿里云百炼 DashScope，OpenAI 兼容模式）",
        default_base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
        base_url_env="DASHSCOPE_BASE_URL",
        key_env="DASHSCOPE_API_KEY",
        models=Models(
            chat="qwen-plus",
            completion="qwen-coder-turbo",
            code="qwen3-coder-flash",
            vision="qwen3-vl-plus",
            video="qwen3-vl-plus",
        ),
        docs_url="https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
    ),
    "openai": Provider(
        name="openai",
        label="OpenAI",
        default_base_url="https://api.openai.com/v1",
        base_url_env="OPENAI_BASE_URL",
        key_env="OPENAI_API_KEY",
        models=Models(
            chat="gpt-4.1-mini",
            completion="gpt-3.5-turbo-instruct",
            code="gpt-4.1-mini",
            vision="gpt-4.1-mini",
            video=None,
        ),
        docs_url="https://platform.openai.com/docs/api-reference",
    ),
    "zhipu": Provider(
        name="zhipu",
        label="智谱 GLM（bigmodel.cn）",
        default_base_url="https://open.bigmodel.cn/api/paas/v4/",
        base_url_env="ZHIPUAI_BASE_URL",
        key_env="ZHIPUAI_API_KEY",
        models=Models(
            chat="glm-4-flash-250414",
            completion=None,
            code="glm-4-flash-250414",
            vision="glm-4.6v-flash",
            video="glm-4v-plus-0111",
        ),
        docs_url="https://docs.bigmodel.cn/cn/guide/develop/openai/introduction",
    ),
    "local": Provider(
        name="local",
        label="本地 OpenAI 兼容服务器（llama.cpp + SmolLM2-135M）",
        default_base_url="http://127.0.0.1:8765/v1",
        base_url_env="LOCAL_BASE_URL",
        key_env=None,
        models=Models(
            chat="smollm2-135m",
            completion="smollm2-135m",
            code="smollm2-135m",
            vision="smollm2-135m",
            video=None,
        ),
        docs_url="https://llama-cpp-python.readthedocs.io/en/latest/server/",
    ),
}


EXTRA_KEY_VARIABLES = ("ZAI_API_KEY",)
"""Keys a learner may have set that no provider here reads (zai-sdk's name for the Zhipu key)."""


def key_values(env: Mapping[str, str] = os.environ) -> list[str]:
    """Every API key value set in the environment: what scrubbing must remove."""
    names = [p.key_env for p in PROVIDERS.values() if p.key_env] + list(EXTRA_KEY_VARIABLES)
    return [env[name] for name in names if env.get(name)]


def get_provider(name: str) -> Provider:
    key = name.strip().lower()
    if key not in PROVIDERS:
        choices = "、".join(PROVIDERS)
        raise KitError(f"未知的 LLM_PROVIDER={name!r}：可选 {choices}。请在 .env 中改正。")
    return PROVIDERS[key]
