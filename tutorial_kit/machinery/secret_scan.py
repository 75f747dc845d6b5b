"""Finding and removing API keys: in text, in bytes of any encoding, in cassettes and
in notebook outputs. Used while recording (scrubbers, post-record gate) and by tests."""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import gzip
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import yaml

from . import untrusted_yaml


def _is_basic_credentials(token: str) -> bool:
    """``Basic <base64>`` is a credential only if the base64 decodes to ``user:password``."""
    encoded = token.split()[-1]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded and all(32 <= byte < 127 for byte in decoded)


def _is_zhipu_shaped(token: str) -> bool:
    """``<id>.<secret>`` where both halves look random, not two words: the id mixes digits and
    letters, the secret has a digit or both cases."""
    key_id, secret = token.split(".", 1)
    mixed_id = re.search(r"[0-9]", key_id) and re.search(r"[A-Za-z]", key_id)
    random_secret = re.search(r"[0-9]", secret) or (re.search(r"[a-z]", secret) and re.search(r"[A-Z]", secret))
    return bool(mixed_id and random_secret)


PATTERNS: dict[str, re.Pattern[str]] = {
    # OpenAI (sk-, sk-proj-) and DashScope (sk- + 32 hex) keys.
    "sk-key": re.compile(r"(?<![A-Za-z0-9])sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"),
    # The same keys glued to the word before them ("mykeysk-..."): only the exact shapes keys
    # have, so that words ending in "sk-" (task-, risk-) stay words.
    "sk-key-glued": re.compile(
        r"sk-(?:(?:proj|svcacct|admin|ant-api\d\d)-[A-Za-z0-9_\-]{20,}|[0-9a-f]{32}(?![0-9a-f])|[A-Za-z0-9]{48})"
    ),
    # Zhipu keys are "<id>.<secret>": a 32-hex id (even glued to a word) or another random id,
    # and a secret of any length the SDKs accept (they only split on the dot).
    "zhipu-key": re.compile(r"[0-9a-fA-F]{32}\.[A-Za-z0-9]{8,64}(?![A-Za-z0-9])"),
    "zhipu-key-other": re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{20,64}\.[A-Za-z0-9]{8,64}(?![A-Za-z0-9.])"),
    "google-key": re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    "github-token": re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    "hf-token": re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"),
    "aws-key": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "bearer": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
    "basic-auth": re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/]{4,}={0,2}"),
    "jwt": re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    "url-credentials": re.compile(r"(?<=://)[^\s/:@'\"]+:[^\s/@'\"]+(?=@)"),
}
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "basic-auth": _is_basic_credentials,
    "zhipu-key-other": _is_zhipu_shaped,
}

REDACTED = "REDACTED"
PUBLIC_VALUES = frozenset({"sk-local", "sk-replay", "sk-wrong", REDACTED})
"""Keys that are public on purpose: the local server's fixed key and replay placeholders."""
PLACEHOLDER = re.compile(r"sk-x{3,}(?:-[a-z]{1,12})*", re.IGNORECASE)
"""Obviously fake keys that lessons show on purpose (``sk-xxx-not-a-real-key``): x's, then only
words. A real key behind the same prefix (``sk-xxx0123...``) has digits and is not one."""
MIN_KNOWN_LENGTH = 8

_URL_ENCODED_RUN = re.compile(r"[A-Za-z0-9%+._~\-/]*(?:%[0-9A-Fa-f]{2}|\+)[A-Za-z0-9%+._~\-/]*")
_BASE64_RUN = re.compile(r"^[A-Za-z0-9+/\s]{16,}={0,2}\s*$")
_ESCAPED_SLASH = "\\/"
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_KEY_CHARACTER = re.compile(r"[A-Za-z0-9._~+/=\-]")
_CHARACTER_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Finding:
    where: str
    line: int
    kind: str
    excerpt: str


def _is_public(found: str) -> bool:
    token = found.split()[-1] if found.split() else found
    return token in PUBLIC_VALUES or bool(PLACEHOLDER.fullmatch(token))


def _matches(text: str) -> Iterator[tuple[str, re.Match[str]]]:
    for kind, pattern in PATTERNS.items():
        validator = VALIDATORS.get(kind)
        for match in pattern.finditer(text):
            if _is_public(match.group(0)) or (validator and not validator(match.group(0))):
                continue
            yield kind, match


def known_forms(value: str) -> set[str]:
    """A key as it can appear in a URL (``+ / =`` escaped, either hex case), a form body or a JSON string."""
    if not value or len(value) < MIN_KNOWN_LENGTH or value in PUBLIC_VALUES:
        return set()
    forms = {value, quote_plus(value, safe=""), quote(value, safe=""), quote(value, safe="/")}
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in forms}
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", _ESCAPED_SLASH), value.replace("/", _ESCAPED_SLASH)}
    return forms


def _unescape_key_character(match: re.Match[str]) -> str:
    character = chr(int(match.group(1) or match.group(2), 16))
    return character if _KEY_CHARACTER.fullmatch(character) else match.group(0)


def _normalized(text: str) -> Iterator[str]:
    """The text as a reader would see it, if that differs: JSON's ``\\/`` and the ``\\uXXXX`` and
    ``\\xXX`` escapes of characters a key is made of decoded, terminal colour codes removed.
    One reading with every decoding at once, so a key hidden by several kinds is whole in it."""
    normalized = text
    if "\\" in normalized:  # \x00 between characters: the repr of a key's UTF-16 bytes
        normalized = normalized.replace(_ESCAPED_SLASH, "/").replace("\\x00", "")
        normalized = _CHARACTER_ESCAPE.sub(_unescape_key_character, normalized)
    if "\x1b[" in normalized:
        normalized = _ANSI_CODE.sub("", normalized)
    if normalized != text:
        yield normalized


def _views(text: str) -> Iterator[str]:
    """The text, and the forms a key hides in: normalized and URL-decoded."""
    yield text
    yield from _normalized(text)
    if "%" in text or "+" in text:
        yield unquote_plus(text)


def find_secrets(text: str, where: str = "<text>", known_values: Iterable[str] = ()) -> list[Finding]:
    forms = sorted(set().union(*(known_forms(value) for value in known_values)), key=len, reverse=True)
    findings: list[Finding] = []
    seen: set[tuple[int, str, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        hits: list[tuple[str, str]] = []
        for view in _views(line):
            hits += [("known-key", form) for form in forms if form in view]
            hits += [(kind, match.group(0)) for kind, match in _matches(view)]
        for kind, found in hits:
            excerpt = found[:10] + "…"
            if (number, kind, excerpt) not in seen:
                seen.add((number, kind, excerpt))
                findings.append(Finding(where, number, kind, excerpt))
    return findings


def _redact_patterns(text: str) -> str:
    spans = sorted((match.start(), match.end()) for _kind, match in _matches(text))
    pieces, position = [], 0
    for start, end in spans:
        if start >= position:
            pieces += [text[position:start], REDACTED]
            position = end
        elif end > position:
            position = end
    return "".join(pieces) + text[position:]


def _redact_url_encoded(run: re.Match[str]) -> str:
    decoded = unquote_plus(run.group(0))
    cleaned = _redact_patterns(decoded)
    return run.group(0) if cleaned == decoded else quote_plus(cleaned, safe="")


def redact(text: str, known_values: Iterable[str] = ()) -> str:
    """Replace the given key values in every encoded form, then anything that looks like a key,
    also where it sits URL-encoded or JSON-escaped."""
    forms = sorted(set().union(*(known_forms(value) for value in known_values)), key=len, reverse=True)

    def replace_forms(text: str) -> str:
        for form in forms:
            text = text.replace(form, REDACTED)
        return text

    text = replace_forms(text)
    for normalized in _normalized(text):
        cleaned = _redact_patterns(replace_forms(normalized))
        if cleaned != normalized:  # a key hidden by an escape: store the plain reading, redacted
            text = cleaned
    text = _redact_patterns(text)
    return _URL_ENCODED_RUN.sub(_redact_url_encoded, text)


def _text_codec(data: bytes, charset: str | None) -> str:
    """The codec that reads these bytes as text; latin-1 (one char per byte) when none does."""
    candidates = ["utf-8"]
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        candidates.insert(0, "utf-32")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.insert(0, "utf-16")
    if charset:
        candidates.insert(0, charset)
    for codec in candidates:
        try:
            if data.decode(codec).encode(codec) == data:
                return codec
        except (LookupError, UnicodeError):
            continue
    return "latin-1"


def redact_bytes(data: bytes, known_values: Iterable[str] = (), charset: str | None = None) -> bytes:
    """Redact a body in whatever encoding it has: as text when it decodes, byte-wise otherwise
    (patterns are ASCII, so latin-1 maps them byte for byte), including UTF-16 forms of known keys."""
    known_values = tuple(known_values)
    codec = _text_codec(data, charset)
    cleaned = redact(data.decode(codec), known_values).encode(codec)
    if codec != "latin-1":  # the codec may be a guess (a stray BOM): ASCII keys are still bytes
        cleaned = redact(cleaned.decode("latin-1"), known_values).encode("latin-1")
    for value in known_values:
        if value and len(value) >= MIN_KNOWN_LENGTH and value not in PUBLIC_VALUES:
            for wide in ("utf-16-le", "utf-16-be"):
                cleaned = cleaned.replace(value.encode(wide), REDACTED.encode(wide))
    return data if cleaned == data else cleaned


def redact_value(value: Any, known_values: Iterable[str] = ()) -> Any:
    """Redact every string and bytes inside nested dicts and lists (a response, an output)."""
    known_values = tuple(known_values)
    if isinstance(value, str):
        return redact(value, known_values)
    if isinstance(value, bytes | bytearray):
        return redact_bytes(bytes(value), known_values)
    if isinstance(value, dict):
        return {key: redact_value(item, known_values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item, known_values) for item in value)
    return value


def _decoded_texts(data: bytes) -> Iterator[str]:
    """Every reading of a body a key could hide in: its text, gunzipped, and wide encodings."""
    codec = _text_codec(data, None)
    yield data.decode(codec)
    if codec != "latin-1":
        yield data.decode("latin-1")
    if data[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            yield from _decoded_texts(gzip.decompress(data))
    if b"\x00" in data:
        yield data.decode("utf-16-le", errors="ignore")
        yield data.decode("utf-16-be", errors="ignore")


def _base64_payload(text: str) -> bytes | None:
    if not _BASE64_RUN.match(text):
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _leaves(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(place, text) for every value, decoding bytes, base64 and JSON found inside strings."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{where}[{index}]")
    elif isinstance(value, bytes | bytearray):
        for text in _decoded_texts(bytes(value)):
            yield where, text
    elif isinstance(value, str):
        yield where, value
        payload = _base64_payload(value)
        if payload is not None:
            yield from _leaves(payload, f"{where}<base64>")
        if value[:1] in "[{":
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):  # nested deeper than Python parses: scanned as text above
                return
            yield from _leaves(parsed, f"{where}<json>")


def find_secrets_in_value(value: Any, where: str, known_values: Iterable[str] = ()) -> list[Finding]:
    known_values = tuple(known_values)
    findings: list[Finding] = []
    for place, text in _leaves(value, where):
        findings += find_secrets(text, place, known_values)
    return findings


_DATA_LINE = re.compile(r"(data: ?)(.*?)(\r?)")


@dataclass
class _Piece:
    """One string inside one ``data:`` line of an event stream, and where it lives."""

    line: int
    container: Any
    key: Any
    text: str


def _stream_pieces(lines: list[str]) -> tuple[dict[tuple[Any, ...], list[_Piece]], dict[int, tuple[str, Any, str]]]:
    """Every string in every ``data:`` payload, grouped by where it sits in the event (its
    channel: ``choices/<index>/delta/content`` and the like), in stream order."""
    channels: dict[tuple[Any, ...], list[_Piece]] = {}
    payloads: dict[int, tuple[str, Any, str]] = {}

    def walk(value: Any, path: tuple[Any, ...], number: int) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            step = item.get("index", key) if isinstance(value, list) and isinstance(item, dict) else key
            if isinstance(item, str):
                channels.setdefault((*path, step), []).append(_Piece(number, value, key, item))
            else:
                walk(item, (*path, step), number)

    for number, line in enumerate(lines):
        match = _DATA_LINE.fullmatch(line)
        if match is None:
            continue
        prefix, payload, end = match.groups()
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            event = None
        if not isinstance(event, dict | list):
            event = {"": payload}  # plain text ([DONE], a JSON scalar): kept as written
        payloads[number] = (prefix, event, end)
        walk(event, (), number)
    return channels, payloads


def _secret_spans(text: str, forms: list[str]) -> list[tuple[int, int]]:
    spans = [(match.start(), match.end()) for _kind, match in _matches(text)]
    for form in forms:
        start = text.find(form)
        while start >= 0:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def stream_texts(text: str) -> list[str]:
    """An event stream's text per channel, its ``data:`` pieces joined: a key streamed in small
    pieces is whole here, though no single line holds it."""
    channels, _payloads = _stream_pieces(text.split("\n"))
    return ["".join(piece.text for piece in pieces) for pieces in channels.values() if len(pieces) > 1]


def redact_event_stream(text: str, known_values: Iterable[str] = ()) -> str:
    """Redact keys that a streamed answer spread over several ``data:`` lines: each channel's
    pieces are joined, scanned whole, and every piece that held part of a key is cut (the first
    keeps ``REDACTED``); only the lines that changed are written again."""
    forms = sorted(set().union(*(known_forms(value) for value in known_values)), key=len, reverse=True)
    lines = text.split("\n")
    channels, payloads = _stream_pieces(lines)
    changed: set[int] = set()
    for pieces in channels.values():
        joined = "".join(piece.text for piece in pieces)
        spans = _secret_spans(joined, forms)
        if not spans:
            continue
        start = 0
        for piece in pieces:
            end = start + len(piece.text)
            kept, position = [], start
            for span_start, span_end in spans:
                if span_end <= start or span_start >= end or span_end <= position:
                    continue
                cut = max(span_start, position)
                kept.append(joined[position:cut] + (REDACTED if span_start >= start else ""))
                position = min(span_end, end)
            if kept:
                piece.container[piece.key] = "".join(kept) + joined[position:end]
                changed.add(piece.line)
            start = end
    for number in changed:
        prefix, event, end = payloads[number]
        body = event[""] if isinstance(event, dict) and set(event) == {""} else json.dumps(
            event, ensure_ascii=False, separators=(",", ":")
        )
        lines[number] = f"{prefix}{body}{end}"
    return "\n".join(lines)


def scan_cassette(path: Path, known_values: Iterable[str] = ()) -> list[Finding]:
    """The post-record gate: parse the cassette and scan every value, base64 bodies decoded.
    A cassette that does not parse is a finding: what cannot be read cannot be cleared."""
    from vcr.serializers.yamlserializer import deserialize  # vcrpy's own safe loader and tags

    known_values = tuple(known_values)
    try:
        raw = untrusted_yaml.read_bounded(path, untrusted_yaml.CASSETTE_MAX_BYTES)
    except untrusted_yaml.YamlLimitError as error:
        return [Finding(str(path), 0, "unreadable-cassette", str(error))]
    findings = find_secrets(raw.decode("utf-8", errors="replace"), str(path), known_values)
    try:
        untrusted_yaml.check_structure(raw)  # depth and aliases first: a bomb must not reach the walk below
        data = deserialize(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, ValueError) as error:
        return [*findings, Finding(str(path), 0, "unreadable-cassette", str(error)[:80] or type(error).__name__)]
    findings += find_secrets_in_value(data, path.name, known_values)
    interactions = data.get("interactions") if isinstance(data, dict) else None
    for index, interaction in enumerate(interactions if isinstance(interactions, list) else []):
        response = interaction.get("response") if isinstance(interaction, dict) else None
        body = response.get("body") if isinstance(response, dict) else None
        string = body.get("string") if isinstance(body, dict) else None
        if isinstance(string, bytes):
            string = string.decode("utf-8", errors="replace")
        if isinstance(string, str) and "data:" in string:
            for text in stream_texts(string):
                findings += find_secrets(text, f"{path.name}:interactions[{index}]<stream>", known_values)
    return findings


NOTEBOOK_MAX_BYTES = 64 * 1024 * 1024
BINARY_MIME_PREFIXES = ("image/", "audio/", "video/", "application/pdf", "application/octet-stream")


def _is_binary_mime(mime: str) -> bool:
    return mime.startswith(BINARY_MIME_PREFIXES) and not mime.endswith(("+xml", "+json"))


def _scrub_mime_value(mime: str, value: Any, known_values: tuple[str, ...]) -> Any:
    """Base64 payloads are redacted in their decoded bytes and re-encoded only if a key was there,
    so an image stays byte-identical unless it carried a key."""
    if _is_binary_mime(mime) and isinstance(value, str):
        payload = _base64_payload(value)
        if payload is not None:
            cleaned = redact_bytes(payload, known_values)
            return value if cleaned == payload else base64.b64encode(cleaned).decode("ascii") + "\n"
    return redact_value(value, known_values)


def scrub_notebook_outputs(notebook: Any, known_values: Iterable[str]) -> None:
    """Redact every output of every type (stream, display_data, execute_result, error with
    ename/evalue/traceback) and every MIME type, and their metadata, in place."""
    known_values = tuple(known_values)
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            for field, value in list(output.items()):
                if field == "data" and isinstance(value, dict):
                    for mime, item in list(value.items()):
                        value[mime] = _scrub_mime_value(mime, item, known_values)
                elif field != "output_type":
                    output[field] = redact_value(value, known_values)


def scan_notebook(path: Path, known_values: Iterable[str] = ()) -> list[Finding]:
    """The notebook's text, plus every output value decoded (base64 images included)."""
    known_values = tuple(known_values)
    if path.stat().st_size > NOTEBOOK_MAX_BYTES:
        return [Finding(str(path), 0, "unreadable-notebook", f"larger than {NOTEBOOK_MAX_BYTES} bytes")]
    text = path.read_text(encoding="utf-8", errors="replace")
    findings = find_secrets(text, str(path), known_values)
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError) as error:
        return [*findings, Finding(str(path), 0, "unreadable-notebook", type(error).__name__)]
    for index, cell in enumerate(notebook.get("cells", [])):
        findings += find_secrets_in_value(cell.get("outputs", []), f"{path.name}:cell{index}", known_values)
    return findings


def scan_files(paths: Iterable[Path], known_values: Iterable[str] = ()) -> list[Finding]:
    known_values = tuple(known_values)
    findings: list[Finding] = []
    for path in paths:
        if path.suffix == ".yaml" and path.name != "manifest.yaml":
            findings += scan_cassette(path, known_values)
        elif path.suffix == ".ipynb":
            findings += scan_notebook(path, known_values)
        else:
            findings += find_secrets(path.read_text(encoding="utf-8", errors="replace"), str(path), known_values)
    return findings
