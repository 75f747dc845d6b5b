"""The scripted server shows the installed SDK's real retry rules, in and out of a cassette."""

from __future__ import annotations

import openai
import pytest
from vcr.request import Request

from tutorial_kit.recording import make_request_scrubber
from tutorial_kit.scripted_server import SCRIPTED_BASE_URL, Reply, ScriptedServer

FAST = {"retry-after-ms": "1"}
HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("status", "attempts"),
    [(400, 1), (401, 1), (404, 1), (422, 1), (408, 3), (409, 3), (429, 3), (500, 3), (503, 3)],
)
def test_which_statuses_the_sdk_retries(status: int, attempts: int) -> None:
    server = ScriptedServer([Reply(status, FAST)])
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model="m", messages=HELLO)
    assert caught.value.status_code == status
    assert server.requests == attempts


def test_retry_then_success_and_the_headers_that_stop_retries() -> None:
    recovering = ScriptedServer([Reply(429, FAST), Reply(200)])
    reply = recovering.client().chat.completions.create(model="m", messages=HELLO)
    assert reply.choices[0].message.content == "ok" and recovering.requests == 2
    for headers in ({"retry-after": "300"}, {"x-should-retry": "false"}):
        refusing = ScriptedServer([Reply(503, headers)])
        with pytest.raises(openai.InternalServerError):
            refusing.client().chat.completions.create(model="m", messages=HELLO)
        assert refusing.requests == 1
    no_retries = ScriptedServer([Reply(500, FAST)])
    with pytest.raises(openai.InternalServerError):
        no_retries.client(max_retries=0).chat.completions.create(model="m", messages=HELLO)
    assert no_retries.requests == 1


def test_its_address_is_never_recorded() -> None:
    assert make_request_scrubber([])(Request("POST", f"{SCRIPTED_BASE_URL}/chat/completions", b"{}", {})) is None
    with pytest.raises(ValueError):
        ScriptedServer([])
