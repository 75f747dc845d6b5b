"""Provider request rules (request_rules.yaml) and checking one request body against them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .untrusted_yaml import safe_load

RULES_PATH = Path(__file__).with_name("request_rules.yaml")
UNVERIFIED = "unverified"
CHECKS = {"rejected", "renamed", "range", "one_of", "one_of_type", "max_items", "requires", "json_word", "stream_only"}
_MISSING = object()


@dataclass(frozen=True)
class Rule:
    provider: str
    param: str
    check: str
    says: str
    source: str
    endpoint: str | None = None
    models: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def verified(self) -> bool:
        return self.source != UNVERIFIED

    def option(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)

    def applies(self, endpoint: str, model: str | None) -> bool:
        return (self.endpoint in (None, endpoint)) and (not self.models or model in self.models)


@dataclass(frozen=True)
class Finding:
    """One rule a request breaks (``verified``) or a point the docs do not settle."""

    provider: str
    param: str
    says: str
    source: str

    @property
    def verified(self) -> bool:
        return self.source != UNVERIFIED


@dataclass(frozen=True)
class ProviderRules:
    name: str
    hosts: tuple[str, ...]
    documented: dict[str, tuple[str, ...]]
    rules: tuple[Rule, ...]


def _rule(provider: str, raw: dict[str, Any]) -> Rule:
    known = {"param", "check", "says", "source", "endpoint", "models"}
    if raw.get("check") not in CHECKS:
        raise ValueError(f"{provider}: unknown check {raw.get('check')!r} for {raw.get('param')!r}")
    if not str(raw.get("source", "")).strip():
        raise ValueError(f"{provider}: rule for {raw.get('param')!r} names no source (a SOURCES.md row or unverified)")
    return Rule(
        provider=provider,
        param=str(raw["param"]),
        check=str(raw["check"]),
        says=str(raw["says"]),
        source=str(raw["source"]),
        endpoint=raw.get("endpoint"),
        models=tuple(raw.get("models") or ()),
        options=tuple((key, _freeze(value)) for key, value in raw.items() if key not in known),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(value.items())
    return value


def load_rules(path: Path = RULES_PATH) -> dict[str, ProviderRules]:
    data = safe_load(path.read_text(encoding="utf-8"))
    providers = {}
    for name, raw in data["providers"].items():
        providers[name] = ProviderRules(
            name=name,
            hosts=tuple(raw["hosts"]),
            documented={endpoint: tuple(params) for endpoint, params in raw["documented"].items()},
            rules=tuple(_rule(name, rule) for rule in raw["rules"]),
        )
    return providers


@cache
def rules() -> dict[str, ProviderRules]:
    return load_rules()


def endpoint_of(url: str) -> str:
    """``chat/completions``, ``completions``, ``responses``, ``models`` or the last path segment (``embeddings``)."""
    path = urlsplit(url).path.rstrip("/")
    for name in ("chat/completions", "completions", "responses", "models"):
        if path.endswith("/" + name):
            return name
    if "/models/" in path:
        return "models"
    if "/responses/" in path:
        return "responses"
    return path.rsplit("/", 1)[-1]


def provider_for_host(netloc: str, table: dict[str, ProviderRules] | None = None) -> str | None:
    table = table or rules()
    host = netloc.lower()
    for name, provider in table.items():
        if host in provider.hosts or host.split(":")[0] in provider.hosts:
            return name
    return None


def _get(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _broken(rule: Rule, value: Any, body: dict[str, Any]) -> bool:
    """True when ``value`` (present in ``body``) breaks ``rule``."""
    check = rule.check
    if check in ("rejected", "renamed"):
        return True
    if check == "range":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return True
        low, high = rule.option("min"), rule.option("max")
        above = value >= high if rule.option("max_open") else value > high
        return (low is not None and value < low) or (high is not None and above)
    if check == "one_of":
        # strings (a mode's name) or integers (a vector's length); True is not the integer 1 here
        if isinstance(value, bool) or not isinstance(value, str | int):
            return True
        return value not in rule.option("values", ())
    if check == "one_of_type":
        kind = value.get("type") if isinstance(value, dict) else None
        return kind not in rule.option("values", ())
    if check == "max_items":
        count = 0 if value is None else 1 if isinstance(value, str) else len(value)
        return count > rule.option("max")
    if check == "requires":
        return any(_get(body, path) != wanted for path, wanted in rule.option("needs", ()))
    if check == "json_word":
        kind = value.get("type") if isinstance(value, dict) else None
        words = json.dumps(body.get("messages", body.get("input", "")), ensure_ascii=False).lower()
        return kind == "json_object" and "json" not in words
    if check == "stream_only":
        return bool(value) and not body.get("stream")
    raise ValueError(check)


def check_request(provider: str, url: str, body: Any, table: dict[str, ProviderRules] | None = None) -> list[Finding]:
    """Every rule of ``provider`` that this request breaks, and every unverified point it touches."""
    table = table or rules()
    if provider not in table or not isinstance(body, dict):
        return []
    rules_of = table[provider]
    endpoint = endpoint_of(url)
    model = body.get("model") if isinstance(body.get("model"), str) else None
    findings: list[Finding] = []
    for rule in rules_of.rules:
        value = _get(body, rule.param)
        if value is _MISSING or value is None or not rule.applies(endpoint, model):
            continue
        if _broken(rule, value, body):
            says = rule.says if rule.check != "renamed" else f"{rule.says}：改用 {rule.option('to')}"
            findings.append(Finding(provider, rule.param, says, rule.source))
    documented = rules_of.documented.get(endpoint)
    if documented is None:
        says = f"{provider} 的文档里没有 {endpoint} 这个接口（例如 /tokenize 只有 llama.cpp 的服务器有）"
        findings.append(Finding(provider, endpoint, says, UNVERIFIED))
    else:
        for param in body:
            if param not in documented and body[param] is not None:
                findings.append(Finding(provider, param, f"{provider} 的 {endpoint} 文档没有列出这个参数", UNVERIFIED))
    return list(dict.fromkeys(findings))


def summary(table: dict[str, ProviderRules] | None = None) -> dict[str, tuple[int, int]]:
    """Per provider: (rules with a source, rules marked unverified)."""
    table = table or rules()
    return {
        name: (sum(rule.verified for rule in p.rules), sum(not rule.verified for rule in p.rules))
        for name, p in table.items()
    }
