from __future__ import annotations

from tutorial_kit.chinese_font import PREFERRED_FONTS, pick_chinese_font


def test_the_first_preferred_installed_font_wins() -> None:
    assert pick_chinese_font(["DejaVu Sans", "SimHei", "Noto Sans CJK SC"]) == "Noto Sans CJK SC"
    assert pick_chinese_font(["DejaVu Sans", "SimHei"]) == "SimHei"


def test_no_chinese_font_gives_none() -> None:
    assert pick_chinese_font(["DejaVu Sans", "Liberation Serif"]) is None
    assert "Noto Sans CJK SC" in PREFERRED_FONTS
