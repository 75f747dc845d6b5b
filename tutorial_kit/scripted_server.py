"""A pretend HTTP server inside the notebook's process, to watch what the SDK itself does.

No provider can be asked for a 500 or a 429 on demand, and no recording can replay the
SDK's waiting between attempts. ``ScriptedServer`` answers an OpenAI client from a script
(status, headers, body) and counts the requests it received, so a lesson can show which
statuses the SDK retries, how often, and how it reads ``Retry-After``. Nothing leaves the
process; its address is never recorded and never looked up in a cassette.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
from openai import OpenAI

from .recording import PASSTHROUGH_NETLOCS

SCRIPTED_NETLOC = "scripted-server.invalid"
SCRIPTED_BASE_URL = f"https://{SCRIPTED_NETLOC}/v1"
PASSTHROUGH_NETLOCS.add(SCRIPTED_NETLOC)

OK_COMPLETION: dict[str, Any] = {
    "id": "scripted",
    "object": "chat.completion",
    "created": 0,
    "model": "scripted",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def body_or_default(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        if self.status < 400:
            return OK_COMPLETION
        return {"error": {"message": f"scripted {self.status}", "type": "scripted"}}


@dataclass
class ScriptedServer:
    """Answers request n with ``script[n]``; after the script ends, its last reply repeats."""

    script: list[Reply]
    requests: int = 0

    def __post_init__(self) -> None:
        if not self.script:
            raise ValueError("a script needs at least one reply")

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        reply = self.script[min(self.requests, len(self.script) - 1)]
        self.requests += 1
        return httpx2.Response(reply.status, headers=reply.headers, json=reply.body_or_default(), request=request)

    def client(self, **options: Any) -> OpenAI:
        """An ordinary ``OpenAI`` client (``max_retries``, ``timeout`` ... as usual) talking to this script."""
        transport = httpx2.MockTransport(self.handle)
        return OpenAI(
            api_key="sk-scripted", base_url=SCRIPTED_BASE_URL, http_client=httpx2.Client(transport=transport), **options
        )
