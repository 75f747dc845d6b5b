"""Choosing live, replay or record from the environment (DESIGN.md section 3)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from enum import Enum
from urllib.parse import urlsplit

from ..errors import KitError
from ..providers import Provider


class Mode(str, Enum):
    LIVE = "live"
    REPLAY = "replay"
    RECORD = "record"
    FIXTURE = "fixture"
    """Internal to ``make record``: building a declared fixture (see fixtures.py)."""
    CHECK = "check"
    """Internal to ``make check-requests``: no network, requests checked, answered from a local recording."""


MODE_NAMES_ZH = {
    Mode.LIVE: "实时",
    Mode.REPLAY: "回放",
    Mode.RECORD: "录制",
    Mode.FIXTURE: "示例生成",
    Mode.CHECK: "请求检查",
}


def server_is_up(base_url: str, timeout: float = 0.3) -> bool:
    """True if something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(requested: str, provider: Provider, env: Mapping[str, str]) -> Mode:
    """``auto`` means live when the provider can answer (a key, or a running local
    server) and replay otherwise. Live and record fail early with the fix."""
    wanted = (requested or "auto").strip().lower()
    if wanted not in {"auto", "live", "replay", "record", "fixture", "check"}:
        raise KitError(f"未知的 LLM_MODE={requested!r}：可选 auto、live、replay、record。")
    if wanted in ("replay", "fixture", "check"):
        return Mode(wanted)
    has_key = provider.api_key(env) is not None
    is_local = provider.key_env is None
    if wanted == "auto":
        if is_local:
            return Mode.LIVE if server_is_up(provider.base_url(env)) else Mode.REPLAY
        return Mode.LIVE if has_key else Mode.REPLAY
    if not has_key:
        raise KitError(
            f"{wanted} 模式需要 {provider.key_env}：请在 .env 中填写密钥，"
            "或设置 LLM_MODE=auto 改用回放。"
        )
    if is_local and not server_is_up(provider.base_url(env)):
        raise KitError(
            f"本地服务器 {provider.base_url(env)} 没有响应：先运行 make serve-local，"
            "或设置 LLM_MODE=replay 回放录制。"
        )
    return Mode(wanted)
