"""The pass/fail marks the kit prints are characters the README's Chinese font really has."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutorial_kit.exercises import check
from tutorial_kit.marks import FAIL, PASS

EMOJI_MARKS = ("✅", "❌", "❎", "✔️", "⭕")
# Where Debian/Ubuntu's fonts-noto-cjk puts the font the README tells readers to install.
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def test_the_exercise_check_prints_the_marks(capsys: pytest.CaptureFixture[str]) -> None:
    check(lambda x: x * 2, [((2,), 4)])
    check(lambda x: x * 2, [((2,), 5)])
    passed, failed = capsys.readouterr().out.splitlines()
    assert passed.startswith(f"{PASS} 全部 1 个用例通过")
    assert failed.startswith(f"{FAIL} 输入 (2,)：期望 5，得到 4")


@pytest.mark.parametrize("mark", [PASS, FAIL])
def test_the_mark_is_in_noto_sans_cjk(mark: str) -> None:
    if not NOTO_CJK.is_file():
        pytest.skip(f"跳过：没有 {NOTO_CJK}（Debian/Ubuntu：apt-get install fonts-noto-cjk）")
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(NOTO_CJK), lazy=True)
    assert ord(mark) in collection.fonts[0].getBestCmap()


def test_no_kit_module_prints_an_emoji_mark() -> None:
    """✅/❌ need a colour-emoji font; the kit prints marks from tutorial_kit.marks instead."""
    kit = Path(__file__).resolve().parent.parent / "tutorial_kit"
    found = [
        path.relative_to(kit).as_posix()
        for path in kit.rglob("*.py")
        if path.name != "marks.py" and any(emoji in path.read_text(encoding="utf-8") for emoji in EMOJI_MARKS)
    ]
    assert found == []
