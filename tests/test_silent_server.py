"""The silent server makes the SDK time out for real, and replay lets its requests through."""

from __future__ import annotations

import pytest
from openai import APITimeoutError, OpenAI
from vcr.request import Request

from tutorial_kit.machinery.recording import make_request_scrubber
from tutorial_kit.silent_server import silent_server


def test_the_sdk_times_out_against_it() -> None:
    with silent_server() as url:
        client = OpenAI(api_key="sk-test", base_url=url, max_retries=0, timeout=0.3)
        with pytest.raises(APITimeoutError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_its_requests_are_never_recorded_and_only_while_open() -> None:
    scrub = make_request_scrubber([])
    with silent_server() as url:
        assert scrub(Request("POST", f"{url}/chat/completions", b"{}", {})) is None
    assert scrub(Request("POST", f"{url}/chat/completions", b"{}", {})) is not None
