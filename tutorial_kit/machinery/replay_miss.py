"""The line a learner reads when replay meets a request the recording does not hold.

Most often the learner edited a prompt or a parameter to try something: the line says which
fields differ from the closest recorded request to the same endpoint, and the ways to run the
cell for real (recording is a maintainer's job and is not among them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vcr.request import Request

from ..providers import get_provider

MAX_FIELDS_NAMED = 4


def _json_object(body: Any) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body) if body else {}
    except (TypeError, ValueError):  # not JSON (a form, bytes in another encoding)
        return None
    return parsed if isinstance(parsed, dict) else None


def changed_fields(request: Request, recorded: Iterable[Request]) -> list[str] | None:
    """The top-level body fields in which ``request`` differs from the closest recorded request to
    the same method and path; None when no recorded request there has a comparable body."""
    body = _json_object(request.body)
    if body is None:
        return None
    closest: list[str] | None = None
    for old in recorded:
        if (old.method, old.path) != (request.method, request.path):
            continue
        old_body = _json_object(old.body)
        if old_body is None:
            continue
        differ = sorted(key for key in body.keys() | old_body.keys() if body.get(key) != old_body.get(key))
        if closest is None or len(differ) < len(closest):
            closest = differ
    return closest


def ways_to_run_for_real(provider: str) -> str:
    key_env = get_provider(provider).key_env
    if key_env:
        return f"要真正运行它：在 .env 填写 {key_env}，然后重启内核。"
    return (
        "要真正运行它，任选一种后重启内核：1）make serve-local 启动本地服务器；"
        "2）在 .env 填写老师给的 LOCAL_BASE_URL 和 LOCAL_API_KEY（教室的服务器）；"
        "3）在 .env 填写某家服务商的密钥并设 LLM_PROVIDER。"
    )


def miss_message(provider: str, request: Request, recorded: Iterable[Request]) -> str:
    fields = changed_fields(request, recorded)
    endpoint = f"{request.method} {request.path}"
    if fields:
        shown = "、".join(fields[:MAX_FIELDS_NAMED])
        if len(fields) > MAX_FIELDS_NAMED:
            shown += f" 等 {len(fields)} 项"
        what = f"这个请求（{endpoint}）的 {shown} 与录制时不同"
    elif fields is None:
        what = f"录制里没有这样的请求（{endpoint}）"
    else:
        what = f"这个请求（{endpoint}）与录制时不同"
    return f"回放只能重放录制过的请求：{what}，所以没有它的回答。{ways_to_run_for_real(provider)}"
