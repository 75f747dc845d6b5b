from __future__ import annotations

from tutorial_kit.chinese_font import PREFERRED_FONTS, pick_chinese_font


def test_the_first_preferred_installed_font_wins() -> None:
    assert pick_chinese_font(["DejaVu Sans", "SimHei", "Noto Sans CJK SC"]) == "Noto Sans CJK SC"
    assert pick_chinese_font(["DejaVu Sans", "SimHei"]) == "SimHei"


def test_no_chinese_font_gives_none() -> None:
    assert pick_chinese_font(["DejaVu Sans", "Liberation Serif"]) is None
    assert "Noto Sans CJK SC" in PREFERRED_FONTS


def test_a_font_installed_after_matplotlibs_cache_is_found(monkeypatch) -> None:
    """matplotlib's cached font list predates the font (installed later): the system fonts are read again."""
    import pytest
    from matplotlib import font_manager

    from tutorial_kit.chinese_font import use_chinese_font

    manager = font_manager.fontManager
    if pick_chinese_font(entry.name for entry in manager.ttflist) is None and not any(
        "CJK" in path for path in font_manager.findSystemFonts()
    ):
        pytest.skip("no Chinese font on this machine (apt-get install fonts-noto-cjk)")
    # A cache written before the font was installed knows none of its files: drop every face of
    # every file that holds a preferred font (a .ttc holds the SC, JP, KR... faces together).
    font_files = {entry.fname for entry in manager.ttflist if entry.name in PREFERRED_FONTS}
    stale = [entry for entry in manager.ttflist if entry.fname not in font_files]
    monkeypatch.setattr(manager, "ttflist", stale)
    assert use_chinese_font() in PREFERRED_FONTS
