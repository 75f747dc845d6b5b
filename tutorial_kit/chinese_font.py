"""Pick a font with Chinese glyphs for matplotlib, so plot labels in Chinese render."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable

PREFERRED_FONTS = (
    "Noto Sans CJK SC",  # Debian/Ubuntu: apt-get install fonts-noto-cjk
    "Source Han Sans SC",
    "PingFang SC",  # macOS
    "Microsoft YaHei",  # Windows
    "SimHei",
    "WenQuanYi Zen Hei",
)

MISSING_FONT_MESSAGE = (
    "没有找到中文字体，图里的中文会显示成方框。Debian/Ubuntu 上运行 sudo apt-get install fonts-noto-cjk，"
    "再重启内核（macOS、Windows 自带中文字体）。"
)


def pick_chinese_font(installed: Iterable[str]) -> str | None:
    """The first preferred font among the installed font names, or ``None``."""
    names = set(installed)
    return next((font for font in PREFERRED_FONTS if font in names), None)


def use_chinese_font() -> str | None:
    """Put a Chinese font first in matplotlib's sans-serif list; warn in one line if none is installed."""
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    manager = font_manager.fontManager
    font = pick_chinese_font(entry.name for entry in manager.ttflist)
    if font is None:
        # matplotlib caches the font list; a font installed after that cache was written is not in it.
        known = {entry.fname for entry in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                with contextlib.suppress(Exception):  # a file FreeType cannot read is skipped, as matplotlib does
                    manager.addfont(path)
        font = pick_chinese_font(entry.name for entry in manager.ttflist)
    if font is None:
        warnings.warn(MISSING_FONT_MESSAGE, stacklevel=2)
        return None
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = [font, *plt.rcParams["font.sans-serif"]]
    return font
