"""A failed live call prints one Chinese line (what failed, likely cause, what to do) with the traceback
folded; ``make rehearse`` reports the same line and numbers cells as Lab does."""

from __future__ import annotations

import httpx
import nbformat
import openai
from nbclient import NotebookClient

from tutorial_kit import live_errors
from tutorial_kit.machinery.executor import QUIET_KERNEL, strip_ansi
from tutorial_kit.machinery.recording import PROJECT_ROOT

REQUEST = httpx.Request("POST", "https://dashscope.example.invalid/compatible-mode/v1/chat/completions")


def status_error(cls: type[openai.APIStatusError], code: int) -> openai.APIStatusError:
    return cls("boom", response=httpx.Response(code, request=REQUEST), body=None)


def connection_error(cause: Exception) -> openai.APIConnectionError:
    try:
        raise openai.APIConnectionError(request=REQUEST) from cause
    except openai.APIConnectionError as error:
        return error


def test_connection_errors_name_the_cause_and_the_way_back_to_replay() -> None:
    dns = live_errors.explain(connection_error(httpx.ConnectError("[Errno -2] Name or service not known")))
    assert dns and dns.startswith(live_errors.MARK) and "域名解析失败" in dns
    assert "HTTPS_PROXY" in dns and "LLM_MODE=replay" in dns and "\n" not in dns
    proxy = live_errors.explain(connection_error(httpx.ProxyError("407 Proxy Authentication Required")))
    assert proxy and "代理" in proxy
    refused = live_errors.explain(connection_error(httpx.ConnectError("[Errno 111] Connection refused")))
    assert refused and "拒绝连接" in refused
    timeout = live_errors.explain(openai.APITimeoutError(request=REQUEST))
    assert timeout and "超时" in timeout


def test_status_errors_say_what_to_check() -> None:
    unauthorized = live_errors.explain(status_error(openai.AuthenticationError, 401), "DASHSCOPE_API_KEY")
    assert unauthorized and "DASHSCOPE_API_KEY" in unauthorized and ".env" in unauthorized
    assert "下线" in (live_errors.explain(status_error(openai.NotFoundError, 404)) or "")
    assert "限流" in (live_errors.explain(status_error(openai.RateLimitError, 429)) or "")
    assert "HTTP 503" in (live_errors.explain(status_error(openai.InternalServerError, 503)) or "")
    assert "权限" in (live_errors.explain(status_error(openai.PermissionDeniedError, 403)) or "")
    assert live_errors.explain(status_error(openai.BadRequestError, 400)) is None  # the server's message is better
    assert live_errors.explain(ValueError("not an SDK error")) is None


def test_in_a_kernel_the_failed_call_is_one_line_and_the_traceback_is_folded(tmp_path) -> None:
    """Live mode with a key and no route to the provider: the cell fails with one line; the rest runs."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from openai import OpenAI\nfrom tutorial_kit import start_session\n"
            "session = start_session('04_chat_completions')\n"
            "client = OpenAI(api_key=session.api_key, base_url=session.base_url, max_retries=0)"
        ),
        nbformat.v4.new_markdown_cell("a markdown cell Lab does not number"),
        nbformat.v4.new_code_cell(
            "client.chat.completions.create(model=session.model, messages=[{'role': 'user', 'content': 'hi'}])"
        ),
        nbformat.v4.new_code_cell("print('next cell runs')"),
    ]
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT),
        "LLM_PROVIDER": "dashscope", "LLM_MODE": "live", "DASHSCOPE_API_KEY": "sk-test-not-a-key",
        "DASHSCOPE_BASE_URL": "https://dashscope.example.invalid/compatible-mode/v1",
    }  # fmt: skip
    client = NotebookClient(notebook, kernel_name="python3", allow_errors=True, timeout=120,
                            extra_arguments=QUIET_KERNEL, resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute(env=env)
    outputs = notebook.cells[2].outputs
    errors = [output for output in outputs if output.output_type == "error"]
    assert len(errors) == 1
    lines = [strip_ansi(line) for line in errors[0].traceback]
    assert len(lines) == 1 and lines[0].startswith(live_errors.MARK), lines
    assert "LLM_MODE=replay" in lines[0] and "dashscope.example.invalid" in lines[0]
    folded = [output for output in outputs if output.output_type == "display_data"]
    assert folded and "<details>" in folded[0].data["text/html"]
    assert "APIConnectionError" in folded[0].data["text/html"]  # the full traceback is one click away
    assert "next cell runs" in notebook.cells[3].outputs[0].text


def test_rehearse_says_when_no_request_was_answered() -> None:
    from tutorial_kit.machinery.executor import NotebookFailed
    from tutorial_kit.machinery.rehearse import Baseline, NotebookResult, drift_report

    line = live_errors.explain(connection_error(httpx.ConnectError("[Errno -2] Name or service not known")))
    failed = NotebookResult("04_chat_completions", 1.0, NotebookFailed("04_chat_completions", 2, "x", str(line)))
    text = drift_report([failed], Baseline("cassettes"))
    assert "没有一个请求得到服务商的回答" in text and "不在录制中" not in text
    assert "单元格 [2]" in failed.error_text() and "域名解析失败" in failed.error_text()
