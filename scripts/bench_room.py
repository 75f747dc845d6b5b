"""Room benchmark: K concurrent learners, each streaming short chats, against a loopback server.

    python scripts/bench_room.py [--base-url http://127.0.0.1:8765/v1] [--levels 1 4 8 16] [--label NAME]

The key is never an argument (``ps`` shows arguments to every user): it is ``LOCAL_API_KEY``
(from the environment or ``.env``), else the room key that ``make serve-local ROOM=1`` keeps in
``.local-server.key``, else the local server's public ``sk-local``.

Per level it prints aggregate completion tokens per second, median and p95 time to first
token, and errors. Bounded: each learner sends ``--requests`` chats, and a level stops after
``--level-timeout`` seconds. Tokens come from the stream's usage chunk where the server sends
one, else from the number of content chunks (the method column says which).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv
from openai import AsyncOpenAI

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ROOM_KEY_FILE = PROJECT_ROOT / ".local-server.key"
PUBLIC_KEY = "sk-local"

PROMPTS = [
    "Write two sentences about the sea.",
    "Give three tips for learning Python.",
    "Describe a cat in two sentences.",
    "Explain what an API is in two sentences.",
]


@dataclass
class LevelResult:
    learners: int
    wall: float = 0.0
    tokens: int = 0
    ttfts: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    methods: set[str] = field(default_factory=set)


async def one_chat(
    client: AsyncOpenAI, model: str, prompt: str, max_tokens: int, result: LevelResult, cache: bool | None = None
) -> None:
    started = time.perf_counter()
    first = None
    chunks = 0
    usage_tokens = None
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
            temperature=0.7, stream=True, stream_options={"include_usage": True},
            extra_body={} if cache is None else {"cache_prompt": cache},
        )  # fmt: skip
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
                if first is None:
                    first = time.perf_counter() - started
            if chunk.usage is not None:
                usage_tokens = chunk.usage.completion_tokens
    except Exception as error:  # a benchmark counts failures instead of stopping
        result.errors += 1
        print(f"  错误：{type(error).__name__}: {str(error)[:80]}")
        return
    result.requests += 1
    if first is not None:
        result.ttfts.append(first)
    result.tokens += usage_tokens if usage_tokens is not None else chunks
    result.methods.add("usage" if usage_tokens is not None else "chunks")


async def learner(index: int, args: argparse.Namespace, client: AsyncOpenAI, result: LevelResult) -> None:
    for turn in range(args.requests):
        prompt = PROMPTS[(index + turn) % len(PROMPTS)]
        await one_chat(client, args.model, prompt, args.max_tokens, result, args.cache)


async def run_level(learners: int, args: argparse.Namespace) -> LevelResult:
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=args.level_timeout)
    result = LevelResult(learners)
    started = time.perf_counter()
    tasks = [asyncio.create_task(learner(i, args, client, result)) for i in range(learners)]
    _, pending = await asyncio.wait(tasks, timeout=args.level_timeout)
    for task in pending:
        task.cancel()
        result.errors += 1
    result.wall = time.perf_counter() - started
    await client.close()
    return result


def api_key() -> str:
    """LOCAL_API_KEY, else the room server's key file, else the public local key."""
    load_dotenv(PROJECT_ROOT / ".env")
    if os.environ.get("LOCAL_API_KEY"):
        return os.environ["LOCAL_API_KEY"]
    if ROOM_KEY_FILE.is_file():
        return ROOM_KEY_FILE.read_text(encoding="utf-8").strip() or PUBLIC_KEY
    return PUBLIC_KEY


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=2, help="chats per learner")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--level-timeout", type=float, default=300)
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--compare-cache", action="store_true",
        help="每个并发级别跑两遍：服务器默认（项目的服务器关着提示词缓存）与请求里 cache_prompt=true，并排比较",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.api_key = api_key()
    return args


def main() -> None:
    args = parse_arguments()
    host = urlsplit(args.base_url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit("只对回环地址（127.0.0.1 / localhost）做压力测试。")
    print(f"服务器 {args.label or args.base_url}：每人 {args.requests} 次流式对话，max_tokens={args.max_tokens}")
    print("| 并发学员 | 提示词缓存 | 请求 | 错误 | 总 token/s | TTFT 中位数 s | TTFT p95 s | token 计数 |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    settings = [(None, "服务器默认"), (True, "请求里打开")] if args.compare_cache else [(None, "服务器默认")]
    for learners in args.levels:
        for cache, label in settings:
            args.cache = cache
            result = asyncio.run(run_level(learners, args))
            median = statistics.median(result.ttfts) if result.ttfts else float("nan")
            tail = p95(result.ttfts) if result.ttfts else float("nan")
            rate = result.tokens / result.wall if result.wall else 0.0
            print(
                f"| {learners} | {label} | {result.requests} | {result.errors} | {rate:.1f} | {median:.2f} "
                f"| {tail:.2f} | {'/'.join(sorted(result.methods))} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
