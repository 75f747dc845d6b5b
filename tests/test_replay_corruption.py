"""A broken recording or manifest is one line naming the file and the fix, at session start.

Every committed cassette is truncated at every 5 % (0..95) and damaged in other ways; so is
the manifest. Each case must raise a KitError whose message is one line naming the file and
``make record NB=.. PROVIDER=..``: never another exception (a long traceback in Jupyter),
never a session that opens and fails later with the wrong explanation."""

from __future__ import annotations

import copy
import functools
import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from tutorial_kit.errors import KitError
from tutorial_kit.machinery import manifest
from tutorial_kit.machinery.executor import environment
from tutorial_kit.machinery.recording import CASSETTE_DIR
from tutorial_kit.session import finish_recording, start_session

CASSETTES = sorted(
    path.relative_to(CASSETTE_DIR).as_posix() for path in CASSETTE_DIR.glob("*/*.yaml")
)  # fmt: skip
PERCENTS = range(0, 100, 5)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # committed files only, parsed to edit them
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@functools.lru_cache(maxsize=4)
def parsed_original(data: bytes) -> Any:
    return yaml.load(data, Loader=SAFE_LOADER)  # each file is edited some twenty ways: parse it once


def edited(change: Callable[[dict[str, Any]], object]) -> Callable[[bytes], bytes]:
    """A corruption that parses the YAML, changes its shape, and writes it back."""

    def corrupt(data: bytes) -> bytes:
        parsed = copy.deepcopy(parsed_original(data))
        change(parsed)
        return yaml.dump(parsed, Dumper=SAFE_DUMPER, allow_unicode=True).encode()

    return corrupt


def first(parsed: dict[str, Any]) -> dict[str, Any]:
    return parsed["interactions"][0]


GARBAGE = random.Random(11).randbytes(4096)

COMMON: dict[str, Callable[[bytes], bytes]] = {
    "binary-garbage": lambda data: GARBAGE,
    "garbage-in-the-middle": lambda data: data[: len(data) // 2] + GARBAGE[:64] + data[len(data) // 2 :],
    "not-utf8": lambda data: data[:40] + b"\xff\xfe\xc3" + data[40:],
    "nul-bytes": lambda data: data.replace(b"\n", b"\n\x00", 3),
    "yaml-list": lambda data: b"- one\n- two\n",
    "yaml-scalar": lambda data: b"just some text\n",
    "yaml-syntax-error": lambda data: data.replace(b":\n", b": [\n", 1),
    "python-object-tag": lambda data: b"!!python/object/apply:os.system ['echo hacked']\n",
    "alias-bomb": lambda data: b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n',
    "crlf-then-truncated": lambda data: data.replace(b"\n", b"\r\n")[: len(data) // 2],
}

CASSETTE_ONLY: dict[str, Callable[[bytes], bytes]] = {
    "wrong-version": lambda data: data.replace(b"\nversion: 1", b"\nversion: 2"),
    "no-interactions-key": edited(lambda p: p.pop("interactions")),
    "empty-interactions": edited(lambda p: p.update(interactions=[])),
    "interaction-not-a-map": edited(lambda p: p["interactions"].insert(0, "oops")),
    "missing-response": edited(lambda p: first(p).pop("response")),
    "missing-request": edited(lambda p: first(p).pop("request")),
    "missing-uri": edited(lambda p: first(p)["request"].pop("uri")),
    "missing-method": edited(lambda p: first(p)["request"].pop("method")),
    "missing-request-body": edited(lambda p: first(p)["request"].pop("body")),
    "request-headers-a-list": edited(lambda p: first(p)["request"].update(headers=["accept"])),
    "missing-status": edited(lambda p: first(p)["response"].pop("status")),
    "status-code-text": edited(lambda p: first(p)["response"]["status"].update(code="OK")),
    "status-code-out-of-range": edited(lambda p: first(p)["response"]["status"].update(code=1000)),
    "missing-body": edited(lambda p: first(p)["response"].pop("body")),
    "body-string-a-number": edited(lambda p: first(p)["response"]["body"].update(string=42)),
    "response-headers-a-string": edited(lambda p: first(p)["response"].update(headers="x")),
    "last-interaction-missing-status": edited(lambda p: p["interactions"][-1]["response"].pop("status")),
    "metadata-a-list": edited(lambda p: p.update(metadata=["clock"])),
    "bad-clock": edited(lambda p: p.update(metadata={"clock": "yesterday-ish"})),
    "fixture-without-docs-url": edited(lambda p: p.update(metadata={"fixture": {"spec": "x"}})),
}


def first_entry(parsed: dict[str, Any]) -> dict[str, Any]:
    return parsed["cassettes"]["local/00_getting_started.yaml"]


MANIFEST_ONLY: dict[str, Callable[[bytes], bytes]] = {
    "only-comments": lambda data: b"# nothing\n",
    "no-cassettes-key": edited(lambda p: p.pop("cassettes")),
    "no-notebooks-key": edited(lambda p: p.pop("notebooks")),
    "cassettes-a-list": edited(lambda p: p.update(cassettes=["local/00_getting_started.yaml"])),
    "entry-not-a-map": edited(lambda p: p["cassettes"].update({"local/00_getting_started.yaml": "local"})),
    "entry-without-models": edited(lambda p: first_entry(p).pop("models")),
    "models-missing-a-task": edited(lambda p: first_entry(p)["models"].pop("vision")),
    "models-a-list": edited(lambda p: first_entry(p).update(models=["smollm2-135m"])),
    "entry-without-base-url": edited(lambda p: first_entry(p).pop("base_url")),
    "entry-unknown-origin": edited(lambda p: first_entry(p).update(origin="guessed")),
    "entry-unknown-provider": edited(lambda p: first_entry(p).update(provider="acme")),
    "entry-key-mismatch": edited(lambda p: first_entry(p).update(notebook="01_models")),
    "notebook-unknown-provider": edited(lambda p: p["notebooks"].update({"00_getting_started": "acme"})),
    "notebook-row-missing": edited(lambda p: p["notebooks"].pop("00_getting_started")),
    "notebook-row-without-entry": edited(lambda p: p["notebooks"].update({"99_new": "local"})),
}


def cassette_cases() -> dict[str, Callable[[bytes], bytes]]:
    cases = {f"truncated-{pct:02d}%": (lambda data, pct=pct: data[: len(data) * pct // 100]) for pct in PERCENTS}
    return cases | COMMON | CASSETTE_ONLY


def manifest_cases() -> dict[str, Callable[[bytes], bytes]]:
    cases = {f"truncated-{pct:02d}%": (lambda data, pct=pct: data[: len(data) * pct // 100]) for pct in PERCENTS}
    return cases | COMMON | MANIFEST_ONLY


@pytest.fixture(scope="module")
def copy_of_cassettes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("corruption") / "cassettes"
    shutil.copytree(CASSETTE_DIR, target)
    return target


@pytest.fixture
def cassettes(copy_of_cassettes: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr("tutorial_kit.machinery.recording.CASSETTE_DIR", copy_of_cassettes)
    monkeypatch.setattr(manifest, "MANIFEST_PATH", copy_of_cassettes / "manifest.yaml")
    monkeypatch.setenv("LLM_MODE", "replay")
    yield copy_of_cassettes
    finish_recording()
    for relative in [*CASSETTES, "manifest.yaml"]:  # put back what a case broke
        shutil.copyfile(CASSETTE_DIR / relative, copy_of_cassettes / relative)


def outcome(run: Callable[[], object]) -> tuple[bool, str]:
    """(one clear line?, what happened)."""
    try:
        run()
    except KitError as error:
        message = str(error)
        return "\n" not in message and len(error._render_traceback_()) == 1, message
    except BaseException as error:  # any other exception is what this counts
        return False, f"{type(error).__name__} instead of KitError"
    return False, "opened without complaint"


def start(notebook: str, provider: str | None = None) -> Callable[[], object]:
    return lambda: start_session(notebook, provider=provider)


def test_every_committed_file_still_opens(cassettes: Path) -> None:
    for relative in CASSETTES:
        provider, notebook = relative.removesuffix(".yaml").split("/")
        start_session(notebook, provider=provider)
    finish_recording()


def try_every_case(cassettes: Path, relative: str) -> tuple[int, list[str]]:
    """Apply each corruption to one file, start its session, put the file back.
    Returns (cases tried, the cases that did not give one clear line naming file and fix)."""
    path = cassettes / relative
    original = path.read_bytes()
    if relative == "manifest.yaml":
        cases, notebook, provider = manifest_cases(), "00_getting_started", None
        named = ["cassettes/manifest.yaml", "make record NB=00_getting_started PROVIDER=local"]
    else:
        cases = cassette_cases()
        provider, notebook = relative.removesuffix(".yaml").split("/")
        named = [f"cassettes/{relative}", f"make record NB={notebook} PROVIDER={provider}"]
    failures = []
    for name, corrupt in cases.items():
        path.write_bytes(corrupt(original))
        try:
            clear, message = outcome(start(notebook, provider))
        finally:
            path.write_bytes(original)
            finish_recording()
        if not (clear and all(part in message for part in named)):
            failures.append(f"{relative} {name}: {message[:120]}")
    return len(cases), failures


def test_manifest_corruption_is_clear_when_the_provider_is_set_too(
    cassettes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "local")  # start_session then reads only the entry
    tried, failures = try_every_case(cassettes, "manifest.yaml")
    assert not failures, f"{len(failures)}/{tried} unclear:\n" + "\n".join(failures)


def test_every_corruption_is_one_line_naming_file_and_fix(cassettes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """All files, all cases; prints the count for the closing note and the first failures."""
    tried = 0
    failures: list[str] = []
    for relative in [*CASSETTES, "manifest.yaml"]:
        count, failed = try_every_case(cassettes, relative)
        tried, failures = tried + count, failures + failed
    with capsys.disabled():
        print(f"\ncorruptions giving one line naming file and fix: {tried - len(failures)}/{tried}")
        for failure in failures[:30]:
            print("  ", failure)
    assert not failures


def test_one_line_in_a_real_kernel(copy_of_cassettes: Path, tmp_path: Path) -> None:
    """What the learner sees in Jupyter, one representative case per class of the sweep above, in one kernel:
    a truncated cassette, one that is not YAML, one whose shape is wrong, then a broken manifest (that cell
    breaks it first: the cells before need it whole). Each cell's error output is a single line naming the
    file and the fix."""
    target = tmp_path / "cassettes"
    shutil.copytree(copy_of_cassettes, target)
    for notebook, corrupt in [
        ("00_getting_started", cassette_cases()["truncated-55%"]),
        ("01_models", COMMON["binary-garbage"]),
        ("02_completions", CASSETTE_ONLY["missing-response"]),
    ]:
        cassette = target / "local" / f"{notebook}.yaml"
        cassette.write_bytes(corrupt(cassette.read_bytes()))
    broken_manifest = manifest_cases()["no-notebooks-key"]((target / "manifest.yaml").read_bytes())
    cells = [
        'from tutorial_kit import start_session\nstart_session("00_getting_started")',
        'start_session("01_models")',
        'start_session("02_completions")',
        f"import pathlib\npathlib.Path({str(target / 'manifest.yaml')!r}).write_bytes({broken_manifest!r})\n"
        'start_session("00_getting_started")',
    ]
    named = [
        ("cassettes/local/00_getting_started.yaml", "make record NB=00_getting_started PROVIDER=local"),
        ("cassettes/local/01_models.yaml", "make record NB=01_models PROVIDER=local"),
        ("cassettes/local/02_completions.yaml", "make record NB=02_completions PROVIDER=local"),
        ("cassettes/manifest.yaml", "make record NB=00_getting_started PROVIDER=local"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    overrides = {"TUTORIAL_CASSETTE_DIR": str(target), "LLM_MODE": "replay", "LLM_PROVIDER": ""}
    with environment(overrides):
        NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True).execute()
    for cell, (path, command) in zip(notebook.cells, named, strict=True):
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert len(errors) == 1, json.dumps(cell.outputs, ensure_ascii=False)[:500]
        shown = "\n".join(errors[0].traceback)
        assert len(errors[0].traceback) == 1 and shown.count("\n") == 0, shown
        assert path in shown and command in shown, shown
