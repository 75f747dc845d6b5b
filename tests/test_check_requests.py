"""Provider request rules and ``make check-requests``: every lesson's requests are valid on every cloud
provider (checked without key or network), a planted violation fails naming lesson, cell and rule, and no
lesson sends one provider's key to another provider."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tutorial_kit.machinery import check_requests
from tutorial_kit.machinery.record import notebook_paths
from tutorial_kit.machinery.recording import PROJECT_ROOT
from tutorial_kit.machinery.request_rules import UNVERIFIED, check_request, endpoint_of, load_rules, rules

OPENAI = "https://api.openai.com/v1/chat/completions"
DASHSCOPE = "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"
ZHIPU = "https://open.bigmodel.cn/api/paas/v4/chat/completions"
ASK = [{"role": "user", "content": "hi"}]
PLANTED = {
    "OPENAI_API_KEY": "sk-planted-openai-0123456789abcdef",
    "DASHSCOPE_API_KEY": "sk-planted-dashscope-0123456789",
    "ZHIPUAI_API_KEY": "planted-id.planted-zhipu-secret",
}


def broken(provider: str, url: str, **body: object) -> set[tuple[str, str]]:
    """(param, source) of every verified rule the request breaks."""
    found = check_request(provider, url, {"model": "m", "messages": ASK, **body})
    return {(finding.param, finding.source) for finding in found if finding.verified}


def test_every_rule_cites_a_sources_row_or_says_unverified() -> None:
    text = (PROJECT_ROOT / "SOURCES.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| ((?:G|\d\d)-\d+) \|", text, re.MULTILINE))
    table = load_rules()
    assert set(table) == {"openai", "dashscope", "zhipu", "local"}
    for provider in table.values():
        assert provider.rules, provider.name
        for rule in provider.rules:
            assert rule.source == UNVERIFIED or rule.source in rows, (provider.name, rule)


def test_openai_reasoning_model_rules() -> None:
    luna = {"model": "gpt-6-luna", "messages": ASK}
    assert {("max_tokens", "G-31"), ("temperature", "G-30")} <= broken_body("openai", OPENAI, luna, max_tokens=5,
                                                                           temperature=0)  # fmt: skip
    ok = broken_body("openai", OPENAI, luna, reasoning_effort="none", temperature=0, max_completion_tokens=5)
    assert ok == set()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert ("tools", "G-30") in broken_body("openai", OPENAI, luna, tools=tools)
    assert broken_body("openai", OPENAI, luna, tools=tools, reasoning_effort="none") == set()
    responses = "https://api.openai.com/v1/responses"
    body = {"model": "gpt-6-luna", "input": "hi"}
    assert ("temperature", "G-30") in broken_body("openai", responses, body, temperature=0)
    assert broken_body("openai", responses, body, temperature=0, reasoning={"effort": "none"}) == set()


def broken_body(provider: str, url: str, body: dict[str, object], **extra: object) -> set[tuple[str, str]]:
    return {(f.param, f.source) for f in check_request(provider, url, {**body, **extra}) if f.verified}


def test_dashscope_and_zhipu_rules() -> None:
    assert ("n", "04-3") in broken("dashscope", DASHSCOPE, n=6)
    assert broken("dashscope", DASHSCOPE, n=4, max_completion_tokens=5, temperature=0) == set()
    assert ("max_tokens", "G-32") in broken("dashscope", DASHSCOPE, max_tokens=5)
    assert ("enable_thinking", "11-2") in broken("dashscope", DASHSCOPE, enable_thinking=True)
    assert broken("dashscope", DASHSCOPE, enable_thinking=True, stream=True) == set()
    assert ("response_format", "10-2") in broken("dashscope", DASHSCOPE, response_format={"type": "json_object"})
    json_ask = {"model": "m", "messages": [{"role": "system", "content": "Reply in JSON."}]}
    assert broken_body("dashscope", DASHSCOPE, json_ask, response_format={"type": "json_object"}) == set()
    assert ("n", "G-34") in broken("zhipu", ZHIPU, n=1)
    assert ("tool_choice", "07-3") in broken("zhipu", ZHIPU, tool_choice="required")
    assert ("temperature", "04-5") in broken("zhipu", ZHIPU, temperature=1.5)
    assert broken("zhipu", ZHIPU, temperature=1.0, max_tokens=5, tool_choice="auto") == set()


def test_embedding_rules_dimensions_and_batch_size() -> None:
    dashscope = "https://dashscope.aliyuncs.com/compatible-mode/v1/embeddings"
    zhipu = "https://open.bigmodel.cn/api/paas/v4/embeddings"
    openai = "https://api.openai.com/v1/embeddings"
    v4 = {"model": "text-embedding-v4", "input": "hi", "encoding_format": "float"}
    assert broken_body("dashscope", dashscope, v4, dimensions=256) == set()
    assert ("dimensions", "14-3") in broken_body("dashscope", dashscope, v4, dimensions=300)
    assert ("dimensions", "14-3") in broken_body("dashscope", dashscope, v4, dimensions="256")
    assert ("input", "14-3") in broken_body("dashscope", dashscope, {**v4, "input": ["x"] * 11})
    assert broken_body("dashscope", dashscope, {**v4, "input": ["x"] * 10}) == set()
    glm = {"model": "embedding-3", "input": ["x"] * 64}
    assert broken_body("zhipu", zhipu, glm, dimensions=2048) == set()
    assert ("dimensions", "14-4") in broken_body("zhipu", zhipu, glm, dimensions=64)
    assert ("input", "14-4") in broken_body("zhipu", zhipu, {**glm, "input": ["x"] * 65})
    small = {"model": "text-embedding-3-small", "input": "hi"}
    assert ("encoding_format", "14-1") in broken_body("openai", openai, small, encoding_format="int8")
    assert broken_body("openai", openai, small, encoding_format="base64", dimensions=256) == set()
    # what the docs do not settle is reported, never a failure
    unsettled = check_request("zhipu", zhipu, {**glm, "encoding_format": "float"})
    assert unsettled and not any(finding.verified for finding in unsettled)
    assert not any(f.verified for f in check_request("dashscope", dashscope, {**v4, "encoding_format": "base64"}))


def test_undocumented_parameters_are_unverified_not_violations() -> None:
    findings = check_request("zhipu", ZHIPU, {"model": "m", "messages": ASK, "presence_penalty": 1})
    assert findings and all(not finding.verified for finding in findings)
    assert endpoint_of("https://open.bigmodel.cn/api/v1/responses") == "responses"
    assert endpoint_of("http://127.0.0.1:8765/v1/models/x") == "models"
    assert rules()["local"].hosts


@pytest.fixture(scope="module")
def planted_lesson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lesson 00 with the violations the issue names planted in new cells, and a key read the wrong way."""
    lesson = next(path for path in notebook_paths(["00"]))
    notebook = nbformat.read(lesson, as_version=4)
    planted = [
        "client.chat.completions.create(model=session.model, messages=[{'role': 'user', 'content': 'hi'}],"
        " temperature=0, max_tokens=5)",
        "client.chat.completions.create(model=session.model, messages=[{'role': 'user', 'content': 'hi'}],"
        " n=6, max_completion_tokens=5)",
        "import os\nleaky = OpenAI(api_key=os.getenv('DASHSCOPE_API_KEY') or None, base_url=session.base_url)\n"
        "leaky.chat.completions.create(model=session.model, messages=[{'role': 'user', 'content': 'hi'}])",
    ]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in planted]
    folder = tmp_path_factory.mktemp("planted")
    path = folder / lesson.name
    nbformat.write(notebook, path)
    return path


def planted_cells(path: Path) -> tuple[int, int, int]:
    count = sum(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)
    return count - 2, count - 1, count


def test_a_planted_violation_fails_naming_lesson_cell_and_rule(planted_lesson: Path) -> None:
    temperature_cell, n_cell, leak_cell = planted_cells(planted_lesson)
    environment = {"openai": {}, "dashscope": {"DASHSCOPE_API_KEY": "", "OPENAI_API_KEY": PLANTED["OPENAI_API_KEY"]},
                   "zhipu": {}}  # fmt: skip
    runs = check_requests.run_all([planted_lesson], ["openai", "dashscope", "zhipu"], use_cache=False,
                                  extra_env=environment)  # fmt: skip
    rows = {(row.lesson, row.cell, row.provider, row.finding.param, row.finding.source)
            for run in runs for row in check_requests.rows_of(run) if row.finding.verified}  # fmt: skip
    lesson = planted_lesson.stem
    assert (lesson, temperature_cell, "openai", "max_tokens", "G-31") in rows
    assert (lesson, temperature_cell, "openai", "temperature", "G-30") in rows
    assert (lesson, n_cell, "dashscope", "n", "04-3") in rows
    assert (lesson, n_cell, "zhipu", "n", "G-34") in rows
    text, failures = check_requests.report(runs)
    assert failures > 0
    assert f"{lesson} | [{temperature_cell}]" in text and "G-31" in text and "不是实时运行" in text
    leaks = [leak for run in runs for leak in run.leaks()]
    assert any(f"[{leak_cell}] 把 OPENAI_API_KEY 发给了 https://dashscope" in leak for leak in leaks), leaks
    assert PLANTED["OPENAI_API_KEY"] not in text  # names only, never the value


def test_cli_exits_non_zero_on_the_planted_lesson(planted_lesson: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "tutorial_kit.machinery.check_requests", "--provider", "zhipu", "--path",
         str(planted_lesson), "--no-cache"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert process.returncode == 1, process.stdout + process.stderr
    assert "违反规则" in process.stdout and "智谱没有 n 参数" in process.stdout


def test_every_lesson_is_valid_on_every_cloud_provider_and_keys_stay_home() -> None:
    """The check `make check-requests` runs, for all three cloud providers, with no cell stopped by an error.
    Each run plants the other providers' keys and leaves the chosen provider's key empty (e.g.
    OPENAI_API_KEY=sk-... with LLM_PROVIDER=dashscope and no DASHSCOPE_API_KEY): no request may carry a key
    to another provider."""
    lessons = notebook_paths([])
    environment = {
        provider: {**PLANTED, check_requests.KEY_VARIABLE[provider]: ""} for provider in check_requests.CLOUD_PROVIDERS
    }
    runs = check_requests.run_all(lessons, list(check_requests.CLOUD_PROVIDERS), extra_env=environment)
    text, failures = check_requests.report(runs)
    assert failures == 0, text
    assert sum(len(run.requests) for run in runs) > 100, text
    # every cell ran for every provider, so every request a cell sends was sent and checked (lesson 14's batches
    # of 10, recorded one text at a time on the local server, are answered vector by vector)
    assert [(run.lesson, run.chosen, run.stopped) for run in runs if run.stopped] == [], text
    for value in PLANTED.values():
        assert value not in text


def test_the_kit_never_hands_the_sdk_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key for the chosen provider: the session's key is a placeholder string, never None (with None the
    openai SDK would fall back to OPENAI_API_KEY and send it to whatever base_url the client has)."""
    from tutorial_kit.session import finish_recording, start_session

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED["OPENAI_API_KEY"])
    for name in ("DASHSCOPE_API_KEY", "ZHIPUAI_API_KEY", "LLM_MODEL"):
        monkeypatch.setenv(name, "")
    try:
        for mode in ("check", "replay"):
            monkeypatch.setenv("LLM_MODE", mode)
            for provider in ("dashscope", "zhipu"):
                monkeypatch.setenv("LLM_PROVIDER", provider)
                session = start_session("11_reasoning_models", provider=provider)
                assert isinstance(session.api_key, str) and session.api_key
                assert session.api_key != PLANTED["OPENAI_API_KEY"], (mode, provider)
    finally:
        finish_recording()


def test_the_cache_follows_the_kit_modules_a_lesson_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lesson's cached check stays valid when a kit module its kernel never loaded changes, and not when one it
    loaded, a non-Python kit file or a data file changes (or when the kernel did not say what it loaded)."""
    monkeypatch.setattr(check_requests, "CACHE_DIR", tmp_path / "cache")
    lesson = next(path for path in notebook_paths(["01"]))
    run = check_requests.drive(lesson, "zhipu", tmp_path, {}, use_cache=True)
    assert run.requests and not run.stopped and not run.cached
    entries = list((tmp_path / "cache" / "zhipu").glob(f"{lesson.stem}-*.json"))
    assert len(entries) == 1, entries
    stored = json.loads(entries[0].read_text(encoding="utf-8"))
    loaded = stored["kit_modules"]
    assert "session.py" in loaded and "machinery/request_check.py" in loaded
    assert "machinery/check_requests.py" not in loaded and "sandbox.py" not in loaded
    assert check_requests.drive(lesson, "zhipu", tmp_path, {}, use_cache=True).cached

    kit, data = tmp_path / "kit", tmp_path / "data"
    for folder, names in ((kit, ["session.py", "sandbox.py", "runner.mjs"]), (data, ["corpus.json"])):
        folder.mkdir()
        for name in names:
            (folder / name).write_text("1", encoding="utf-8")
    monkeypatch.setattr(check_requests, "KIT_DIR", kit)
    monkeypatch.setattr(check_requests, "DATA_DIR", data)

    def key(modules: list[str] | None) -> str:
        return check_requests._cache_key(check_requests._inputs_key(lesson, "zhipu", {}), modules)

    before, everything = key(["session.py"]), key(None)
    (kit / "sandbox.py").write_text("2", encoding="utf-8")
    assert key(["session.py"]) == before and key(None) != everything
    pins = tmp_path / "constraints.txt"
    pins.write_text("openai==1.0.0\n", encoding="utf-8")
    monkeypatch.setattr(check_requests, "PINS", (pins,))
    before = key(["session.py"])
    for changed in (kit / "session.py", kit / "runner.mjs", data / "corpus.json", pins):
        changed.write_text("changed", encoding="utf-8")
        assert key(["session.py"]) != before, changed
        before = key(["session.py"])
