"""A failed live call says what to do in one Chinese line; the SDK's traceback stays one click away.

In live mode ``start_session`` registers :func:`handle` with IPython (``set_custom_exc``) for the SDKs'
connection, timeout and HTTP-status errors that escape a cell. The cell still fails (so ``make
rehearse`` sees it); Lab shows one red line -- what failed, the likely cause, what to do -- and above it
a folded "完整报错" block with the full traceback. :func:`explain` is plain text, also used by rehearse.
"""

from __future__ import annotations

import html
import re
import sys
from typing import Any

MARK = "✘ 实时调用失败："
"""Start of the one line; rehearse finds it in a failed cell's traceback."""
REPLAY_HINT = "想先看录制：在 .env 里写 LLM_MODE=replay，重启内核"

NETWORK_HINT = "检查网络；需要代理时在 .env 里设 HTTPS_PROXY"
CONNECTION_CAUSES = [  # (what the error chain says, likely cause, what to do); first match wins
    (r"proxy|407", "代理出错（HTTPS_PROXY 指向的代理连不上或拒绝了请求）", "检查 .env 里的 HTTPS_PROXY，或去掉它试试"),
    (r"name or service not known|nodename nor servname|temporary failure in name resolution|getaddrinfo failed|"
     r"no address associated|name resolution", "域名解析失败（没有网络，或 DNS 不通）", NETWORK_HINT),
    (r"certificate|ssl|tls", "TLS 证书校验失败（常见于公司代理拦截 HTTPS）", "检查 HTTPS_PROXY 与代理的证书设置"),
    (r"connection refused|errno 111|actively refused", "对方拒绝连接（地址或端口不对，或本地服务器没有启动）",
     "检查 .env 里的 *_BASE_URL；本地服务器用 make serve-local 启动"),
    (r"network is unreachable|no route to host|errno 101|errno 113", "网络不可达（没有到服务商的路由）", NETWORK_HINT),
]  # fmt: skip
TIMEOUT_CAUSE = ("超时（网络慢、被拦截，或地域端点不对）", "检查网络与 HTTPS_PROXY，或换离你近的地域端点（*_BASE_URL）")
STATUS_CAUSES = {
    401: ("密钥无效，或与地域不符", "检查 .env 里的 {key}；通义千问的密钥只能用在它所属地域的 *_BASE_URL"),
    403: ("没有权限（账户没开通这个模型、地域不对，或余额不足）", "到服务商控制台检查模型权限与余额"),
    404: ("找不到模型或接口（模型名写错，或模型已下线）", "检查 .env 里的 LLM_MODEL；make check-models 列出可用模型"),
    429: ("被限流，或额度已用完", "稍等再运行这个单元，并检查账户余额与限额"),
}


def _chain(error: BaseException) -> str:
    """The error and everything it was raised from, as text (the real cause hides in __cause__)."""
    parts, seen, current = [], set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " | ".join(parts)


def _status(error: BaseException) -> int | None:
    for name in ("status_code", "status"):
        value = getattr(error, name, None)
        if isinstance(value, int):
            return value
    response = getattr(error, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _connection(text: str, timed_out: bool, where: str, name: str) -> str:
    found = [(cause, todo) for pattern, cause, todo in CONNECTION_CAUSES if re.search(pattern, text, re.IGNORECASE)]
    fallback = TIMEOUT_CAUSE if timed_out else ("没有连上服务器", "检查网络、HTTPS_PROXY 与 .env 里的 *_BASE_URL")
    cause, todo = found[0] if found else fallback
    verb = "超时" if timed_out else "连不上"
    return f"{MARK}{verb} {where}（{name}）——{cause}。{todo}；{REPLAY_HINT}。"


def explain(error: BaseException, key_env: str | None = None, base_url: str | None = None) -> str | None:
    """One Chinese line for an SDK connection/timeout/HTTP error, or ``None`` for anything else."""
    name = type(error).__name__
    module = type(error).__module__.split(".")[0]
    if module not in ("openai", "zhipuai", "httpx", "httpcore", "httpx2", "httpcore2"):
        return None
    where = base_url or "服务商"
    text = _chain(error)
    if "Timeout" in name or "timed out" in text.lower():
        return _connection(text, True, where, name)
    if "Connect" in name or name in ("NetworkError", "RemoteProtocolError"):
        return _connection(text, False, where, name)
    status = _status(error)
    if status in STATUS_CAUSES:
        cause, todo = STATUS_CAUSES[status]
        todo = todo.format(key=key_env or "密钥")
    elif status is not None and status >= 500:
        cause, todo = "服务商那边出错", "稍后再运行这个单元"
    else:
        return None  # e.g. 400: the server's own message says more than a guess would
    return f"{MARK}HTTP {status}（{name}）——{cause}。{todo}；{REPLAY_HINT}。"


def _error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    try:
        import openai

        types += [openai.APIConnectionError, openai.APIStatusError]
    except ImportError:
        pass
    try:
        import zhipuai

        types += [zhipuai.APIConnectionError, zhipuai.APITimeoutError, zhipuai.APIStatusError]
    except ImportError:
        pass
    for name in ("httpx", "httpx2"):  # httpx2: the HTTP library openai 3.x uses (lesson 13 calls it directly)
        try:
            module = __import__(name)
        except ImportError:
            continue
        types += [module.TransportError, module.HTTPStatusError]
    return tuple(types)


def _handler(key_env: str | None, base_url: str) -> Any:
    def handle(shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
        full = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        line = explain(value, key_env, base_url)
        if line is None:  # not one of ours after all: the usual traceback
            shell._showtraceback(etype, value, full)
            return full
        sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # %tb still shows everything
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shell.InteractiveTB.stb2text(full))
        from IPython.display import display

        folded = f"<details><summary>完整报错（点开）</summary><pre>{html.escape(plain)}</pre></details>"
        display({"text/html": folded, "text/plain": "完整报错：运行 %tb 查看"}, raw=True)
        short = [f"\x1b[31m{line}\x1b[0m"]
        shell._showtraceback(etype, value, short)
        return short

    return handle


def install(key_env: str | None, base_url: str) -> bool:
    """Register the one-line handler in the running IPython shell (live mode); False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc(_error_types(), _handler(key_env, base_url))
    return True


def uninstall() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((), None)
