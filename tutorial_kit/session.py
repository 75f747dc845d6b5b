"""One call at the top of each notebook: provider, mode, key, base URL and cassette."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

from vcr.cassette import Cassette, CassetteContextDecorator

from . import live_errors
from .errors import KitError
from .machinery import fixtures, manifest, request_check
from .machinery.modes import MODE_NAMES_ZH, Mode, resolve_mode
from .machinery.proxies import keep_loopback_off_proxies
from .machinery.recording import CLOSED_PORT_URL, cassette_metadata, cassette_path, open_recorder, open_replay
from .machinery.stable_record import recording_day
from .providers import REPLAY_API_KEY, Models, Provider, get_provider, key_values

DEFAULT_PROVIDER = "local"
CLOCK_KEY = "clock"

_active: tuple[CassetteContextDecorator, Cassette] | None = None


@dataclass(frozen=True)
class Session:
    notebook: str
    provider: Provider
    mode: Mode
    api_key: str
    base_url: str
    models: Models
    origin: str
    cassette: Cassette | None = field(default=None, repr=False)
    tasks: tuple[str, ...] = ("chat",)
    """Which of ``models`` this section calls; the status line names those models."""

    @property
    def model(self) -> str:
        """The chat model this notebook uses."""
        return self.models.chat

    @property
    def closed_port_url(self) -> str:
        """A loopback address where nothing listens, for the connection-error demo."""
        return CLOSED_PORT_URL

    def now(self, tz: tzinfo | None = None) -> datetime:
        """The current time when live; while recording, 00:00 UTC of the recording day (the
        recording's clock, see stable_record), saved in the cassette, so replay and a second
        recording give that same moment."""
        if self.cassette is None:
            return datetime.now(tz or timezone.utc)
        stamp = self.cassette.get_metadata(CLOCK_KEY, recording_day().isoformat(timespec="seconds"))
        return datetime.fromisoformat(stamp).astimezone(tz or timezone.utc)

    def status_line(self) -> str:
        called = dict.fromkeys(str(getattr(self.models, task)) for task in self.tasks)
        return (
            f"▶ {MODE_NAMES_ZH[self.mode]}模式 · 服务商 {self.provider.name} · "
            f"模型 {'、'.join(called)} · {self.origin}"
        )


def _origin(notebook: str, provider: Provider, mode: Mode, entry: dict[str, Any]) -> str:
    path = cassette_path(provider.name, notebook)
    if mode is Mode.LIVE:
        return f"请求实时发往 {provider.base_url()}"
    if mode is Mode.RECORD:
        return f"正在录制到 cassettes/{provider.name}/{path.name}"
    if mode is Mode.FIXTURE:
        return f"正在依据 fixtures/{provider.name}/{path.name} 生成示例录制"
    if mode is Mode.CHECK:
        return f"不联网：请求只按 {provider.name} 的规则检查，回答取自本地录制，不是 {provider.name} 的回答"
    # Replay: where the recording came from in plain words, and how to go live; the build details
    # (server version, patches) are in the manifest, lesson 00 and the site's provenance note.
    if provider.key_env:
        go_live = f"实时运行：在 .env 填写 {provider.key_env}"
    else:
        go_live = "实时运行：make serve-local 或见第 00 课"
    if entry.get("origin") == "fixture":
        return f"示例数据（按文档格式编写，不是真实回答） · {go_live}"
    server = str(entry.get("server", ""))
    if provider.key_env is None:
        place = "本机 llama.cpp 服务器" if server.startswith("llama.cpp") else "本机服务器"
    else:
        place = f"{provider.label.split('（')[0]}的 API"
    return f"{entry.get('recorded_on', '日期不明')} 录自{place} · {go_live}"


def _requested_mode(notebook: str, chosen: Provider, main: Provider) -> str:
    """LLM_MODE is meant for the notebook's main provider. A section that names another
    provider runs live when that provider's key exists and replays otherwise. While
    recording, only the provider being recorded is called: such a section builds its
    fixture (if it has a fixture spec) or replays what is there, whatever keys exist, so
    ``make record PROVIDER=local`` never sends a request to a cloud provider."""
    requested = os.environ.get("LLM_MODE", "auto").strip().lower()
    if chosen.name == main.name or requested in ("replay", "check"):
        return requested
    if requested == "record":
        return "fixture" if fixtures.spec_path(chosen.name, notebook).is_file() else "replay"
    return "auto"


def finish_recording() -> None:
    """Close the open cassette; in record mode this writes it to disk."""
    global _active
    if _active is not None:
        _active[0].__exit__(None, None, None)
        _active = None


def _open(notebook: str, provider: Provider, mode: Mode, explicit: bool = False) -> Cassette | None:
    global _active
    if mode is Mode.CHECK:
        _active = request_check.open_check(notebook, provider.name, explicit)
    elif mode is Mode.REPLAY:
        _active = open_replay(notebook, provider.name)
        fixture = cassette_metadata(cassette_path(provider.name, notebook)).get(fixtures.METADATA_KEY)
        if fixture:
            fixtures.announce_fixture_plays(_active[1], fixture["docs_url"])
    elif mode is Mode.RECORD:
        _active = open_recorder(notebook, provider.name, key_values())
    elif mode is Mode.FIXTURE:
        _active = fixtures.open_fixture_builder(notebook, provider.name)
    return _active[1] if _active else None


def start_session(notebook: str, provider: str | None = None, tasks: tuple[str, ...] = ("chat",)) -> Session:
    """Pick provider and mode from the environment (after ``load_dotenv()``), open the
    cassette when replaying or recording, and print one line saying what is in use.
    A section about one provider's feature passes ``provider=`` explicitly, and ``tasks=``
    (e.g. ``("vision",)``) when it calls another of the registry's models than ``chat``."""
    unknown = [task for task in tasks if task not in Models.__dataclass_fields__]
    if unknown:
        raise KitError(f"未知的任务 {unknown}：可选 {'、'.join(Models.__dataclass_fields__)}。")
    finish_recording()  # running the first cell again starts cleanly
    env = os.environ
    keep_loopback_off_proxies(env)
    main = get_provider(env.get("LLM_PROVIDER") or manifest.shown_provider(notebook) or DEFAULT_PROVIDER)
    chosen = get_provider(provider) if provider else main
    mode = resolve_mode(_requested_mode(notebook, chosen, main), chosen, env)

    models, base_url = chosen.models, chosen.base_url(env)
    entry = (manifest.entry_for(chosen.name, notebook) if mode is Mode.REPLAY else None) or {}
    if mode in (Mode.REPLAY, Mode.FIXTURE):
        api_key = REPLAY_API_KEY
        # Replay asks exactly what was recorded, even if the registry has moved on.
        models = Models(**entry["models"]) if "models" in entry else models
        base_url = entry.get("base_url", chosen.default_base_url)
    elif mode is Mode.CHECK:  # as if live: the registry's models, the learner's key if any (never None)
        api_key = chosen.api_key(env) or request_check.CHECK_API_KEY
    else:
        api_key = chosen.api_key(env) or ""
        if env.get("LLM_MODEL") and chosen.name == main.name:
            models = Models(**{**models.__dict__, "chat": env["LLM_MODEL"]})

    session = Session(
        notebook=notebook,
        provider=chosen,
        mode=mode,
        api_key=api_key,
        base_url=base_url,
        models=models,
        origin=_origin(notebook, chosen, mode, entry),
        cassette=_open(notebook, chosen, mode, explicit=provider is not None),
        tasks=tasks,
    )
    if mode in (Mode.LIVE, Mode.RECORD):  # a failed live call: one Chinese line, the traceback folded
        live_errors.install(chosen.key_env, base_url)
    elif provider is None:
        live_errors.uninstall()
    print(session.status_line())
    return session

