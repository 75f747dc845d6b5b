"""The manifest and the cassette files agree, and every entry says where it came from."""

from __future__ import annotations

from tutorial_kit.machinery import manifest
from tutorial_kit.machinery.recording import CASSETTE_DIR, PROJECT_ROOT

REQUIRED = {"notebook", "provider", "origin", "server", "models", "base_url", "recorded_on", "sdk"}


def cassette_files() -> set[str]:
    return {
        path.relative_to(CASSETTE_DIR).as_posix()
        for path in CASSETTE_DIR.rglob("*.yaml")
        if path != manifest.MANIFEST_PATH
    }


def test_every_cassette_is_listed_and_every_entry_exists() -> None:
    listed = set(manifest.load()["cassettes"])
    assert cassette_files() == listed


def test_every_entry_has_its_provenance() -> None:
    for key, entry in manifest.load()["cassettes"].items():
        assert set(entry) >= REQUIRED, key
        assert key == f"{entry['provider']}/{entry['notebook']}.yaml"
        assert entry["origin"] in {"recorded", "fixture"}, key
        if entry["origin"] == "fixture":
            assert str(entry.get("docs_url", "")).startswith("https://"), key


def test_every_notebook_replays_a_listed_recording() -> None:
    data = manifest.load()
    notebooks = {path.stem for path in (PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(data["notebooks"]) == notebooks
    for notebook, provider in data["notebooks"].items():
        assert f"{provider}/{notebook}.yaml" in data["cassettes"], notebook
