"""One call at the top of each notebook: provider, mode, key, base URL and cassette."""

from __future__ import annotations

import os
from dataclasses import dataclass

from vcr.cassette import CassetteContextDecorator

from . import manifest
from .modes import MODE_NAMES_ZH, Mode, resolve_mode
from .providers import PROVIDERS, REPLAY_API_KEY, Models, Provider, get_provider
from .recording import CLOSED_PORT_URL, cassette_path, open_recorder, open_replay

DEFAULT_PROVIDER = "local"
KEY_VARIABLES = ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "ZHIPUAI_API_KEY", "ZAI_API_KEY")

_active_cassette: CassetteContextDecorator | None = None


@dataclass(frozen=True)
class Session:
    notebook: str
    provider: Provider
    mode: Mode
    api_key: str
    base_url: str
    models: Models
    origin: str

    @property
    def model(self) -> str:
        """The chat model this notebook uses."""
        return self.models.chat

    @property
    def closed_port_url(self) -> str:
        """A loopback address where nothing listens, for the connection-error demo."""
        return CLOSED_PORT_URL

    def status_line(self) -> str:
        return (
            f"▶ {MODE_NAMES_ZH[self.mode]}模式 · 服务商 {self.provider.name} · "
            f"模型 {self.model} · {self.origin}"
        )


def _origin(notebook: str, provider: Provider, mode: Mode) -> str:
    if mode is Mode.LIVE:
        return f"请求实时发往 {provider.base_url()}"
    path = cassette_path(provider.name, notebook)
    if mode is Mode.RECORD:
        return f"正在录制到 cassettes/{provider.name}/{path.name}"
    entry = manifest.entry_for(provider.name, notebook) or {}
    if entry.get("origin") == "fixture":
        return f"回放示例数据（fixture，依据 {entry.get('docs_url')}），不是真实录制"
    server = entry.get("server", "未知服务器")
    return f"回放 {entry.get('recorded_on', '?')} 对 {server} 的真实录制"


def finish_recording() -> None:
    """Close the open cassette; in record mode this writes it to disk."""
    global _active_cassette
    if _active_cassette is not None:
        _active_cassette.__exit__(None, None, None)
        _active_cassette = None


def start_session(notebook: str, provider: str | None = None) -> Session:
    """Pick provider and mode from the environment (after ``load_dotenv()``), open the
    cassette when replaying or recording, and print one line saying what is in use."""
    global _active_cassette
    finish_recording()  # running the first cell again starts cleanly
    env = os.environ
    name = provider or env.get("LLM_PROVIDER") or manifest.shown_provider(notebook)
    chosen = get_provider(name or DEFAULT_PROVIDER)
    mode = resolve_mode(env.get("LLM_MODE", "auto"), chosen, env)

    models, base_url = chosen.models, chosen.base_url(env)
    if mode is Mode.REPLAY:
        _active_cassette = open_replay(notebook, chosen.name)
        api_key = REPLAY_API_KEY
        # Replay asks exactly what was recorded, even if the registry has moved on.
        entry = manifest.entry_for(chosen.name, notebook) or {}
        models = Models(**entry["models"]) if "models" in entry else models
        base_url = entry.get("base_url", chosen.default_base_url)
    else:
        if env.get("LLM_MODEL"):
            models = Models(**{**models.__dict__, "chat": env["LLM_MODEL"]})
        api_key = chosen.api_key(env) or ""
        if mode is Mode.RECORD:
            secrets = [env[name] for name in KEY_VARIABLES if env.get(name)]
            _active_cassette = open_recorder(notebook, chosen.name, secrets)

    session = Session(
        notebook=notebook,
        provider=chosen,
        mode=mode,
        api_key=api_key,
        base_url=base_url,
        models=models,
        origin=_origin(notebook, chosen, mode),
    )
    print(session.status_line())
    return session


__all__ = ["PROVIDERS", "Session", "finish_recording", "start_session"]
