"""Finding and removing API keys in text: used when recording and by the tests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PATTERNS: dict[str, re.Pattern[str]] = {
    # OpenAI (sk-, sk-proj-) and DashScope (sk- + 32 hex) keys.
    "sk-key": re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-)?[A-Za-z0-9_\-]{16,}"),
    # Zhipu keys are "<id>.<secret>".
    "zhipu-key": re.compile(r"\b[A-Za-z0-9]{32}\.[A-Za-z0-9]{16}\b"),
    "bearer": re.compile(r"Bearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
    "jwt": re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
}

REDACTED = "REDACTED"
PLACEHOLDER_PREFIXES = ("sk-xxx",)
"""Obviously fake keys that lessons show on purpose (e.g. ``sk-xxx-not-a-real-key``)."""


@dataclass(frozen=True)
class Finding:
    where: str
    line: int
    kind: str
    excerpt: str


def find_secrets(text: str, where: str = "<text>") -> list[Finding]:
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                if match.group(0).startswith(PLACEHOLDER_PREFIXES):
                    continue
                shown = match.group(0)[:10] + "…"
                findings.append(Finding(where, number, kind, shown))
    return findings


def redact(text: str, known_values: Iterable[str] = ()) -> str:
    """Replace the given key values, then anything that looks like a key."""
    for value in known_values:
        if value and len(value) >= 8:
            text = text.replace(value, REDACTED)
    for pattern in PATTERNS.values():
        text = pattern.sub(_redact_match, text)
    return text


def _redact_match(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0).startswith(PLACEHOLDER_PREFIXES) else REDACTED


def scan_files(paths: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        findings += find_secrets(path.read_text(encoding="utf-8", errors="replace"), str(path))
    return findings
