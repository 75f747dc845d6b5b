"""What ``--no-cache-prompt`` costs: the same requests with the server's prompt cache off (the
project's setting) and on (``"cache_prompt": true`` per request), side by side in one run.

Usage: ``make serve-local`` then ``.venv/bin/python scripts/bench_prompt_cache.py``

Each round resends one conversation that grows by a turn, as a chat lesson does, so with the
cache on most of the prompt is already in the slot's KV cache. Loopback only.
"""

from __future__ import annotations

import statistics
import sys
import time

from openai import OpenAI

from tutorial_kit.providers import PROVIDERS

ROUNDS = 8
TURN = "Tell me one more short fact about the sea, different from the ones before."


def one_run(client: OpenAI, cache: bool) -> tuple[list[float], list[str]]:
    messages = [{"role": "system", "content": "You are a patient teacher. " * 40}]
    seconds, answers = [], []
    for _ in range(ROUNDS):
        messages.append({"role": "user", "content": TURN})
        started = time.perf_counter()
        reply = client.chat.completions.create(
            model="smollm2-135m", messages=messages, temperature=0, max_tokens=24, extra_body={"cache_prompt": cache}
        )
        seconds.append(time.perf_counter() - started)
        answer = reply.choices[0].message.content or ""
        answers.append(answer)
        messages.append({"role": "assistant", "content": answer})
    return seconds, answers


def main() -> int:
    local = PROVIDERS["local"]
    client = OpenAI(api_key=local.api_key(), base_url=local.base_url(), max_retries=0, timeout=120)
    prompt_tokens = client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "system", "content": "You are a patient teacher. " * 40}],
        max_tokens=1,
    ).usage.prompt_tokens  # fmt: skip
    rows = {}
    for cache in (False, True, False, True):  # interleaved, so a warm-up or a busy moment hits both
        seconds, answers = one_run(client, cache)
        rows.setdefault(cache, ([], []))
        rows[cache][0].extend(seconds)
        rows[cache][1].append(answers)
    print(f"{ROUNDS} 轮对话 × 2 次，提示词从约 {prompt_tokens} 个 token 起逐轮增长，max_tokens=24：")
    print(f"{'提示词缓存':<10}{'每请求中位数 s':>16}{'平均 s':>10}{'两次回答相同':>14}")
    for cache, (seconds, runs) in rows.items():
        same = "是" if runs[0] == runs[1] else "否"
        print(f"{'开' if cache else '关（项目设置）':<10}{statistics.median(seconds):>16.3f}"
              f"{statistics.mean(seconds):>10.3f}{same:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
