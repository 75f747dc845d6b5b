"""Fixtures are declared, built from their specs, and announced every time they play."""

from __future__ import annotations

import nbformat
import pytest
import yaml

from tutorial_kit import fixtures, manifest
from tutorial_kit.recording import CASSETTE_DIR, PROJECT_ROOT, cassette_metadata

NOTE = fixtures.replay_note("")[:20]
FIXTURE_ENTRIES = {key: entry for key, entry in manifest.load()["cassettes"].items() if entry["origin"] == "fixture"}


def interactions(key: str) -> list[dict]:
    return yaml.safe_load((CASSETTE_DIR / key).read_text())["interactions"]


def test_there_are_fixtures_and_each_has_its_spec() -> None:
    assert FIXTURE_ENTRIES
    for key, entry in FIXTURE_ENTRIES.items():
        spec = fixtures.load_spec(entry["provider"], entry["notebook"])
        assert spec["docs_url"] == entry["docs_url"], key
        assert cassette_metadata(CASSETTE_DIR / key)[fixtures.METADATA_KEY]["docs_url"] == entry["docs_url"]
        assert len(interactions(key)) == len(spec["responses"]), f"{key}: rebuild with make record"


def test_no_recorded_cassette_claims_a_fixture_spec() -> None:
    for key, entry in manifest.load()["cassettes"].items():
        has_spec = fixtures.METADATA_KEY in cassette_metadata(CASSETTE_DIR / key)
        assert has_spec == (entry["origin"] == "fixture"), key


@pytest.mark.parametrize("notebook", sorted({entry["notebook"] for entry in FIXTURE_ENTRIES.values()}))
def test_every_fixture_response_prints_the_note(notebook: str) -> None:
    played = sum(len(interactions(key)) for key, entry in FIXTURE_ENTRIES.items() if entry["notebook"] == notebook)
    cells = nbformat.read(PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    shown = sum(output.get("text", "").count(NOTE) for cell in cells for output in cell.get("outputs", []))
    assert shown == played


def test_fixture_content_is_marked_as_illustrative() -> None:
    for path in sorted(fixtures.FIXTURE_DIR.glob("*/*.yaml")):
        spec = yaml.safe_load(path.read_text())
        assert spec["docs_url"].startswith("https://"), path
        for response in spec["responses"]:
            text = yaml.safe_dump(response["body"], allow_unicode=True)
            assert "【示例】" in text and "fixture" in text, path
