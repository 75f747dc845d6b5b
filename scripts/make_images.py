"""Draw the pictures the notebooks show (run: .venv/bin/python scripts/make_images.py).

images/message_flow.png: how system, user and assistant messages flow through turns.
images/shapes.png: a tiny picture (red circle, blue square, green triangle) that lesson 06
sends as base64; kept small because every byte of it travels in the request.
Labels are Chinese, so a CJK font is needed (Debian/Ubuntu: apt-get install fonts-noto-cjk);
without one the script says so and writes nothing.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from tutorial_kit.chinese_font import MISSING_FONT_MESSAGE, use_chinese_font

OUT = Path(__file__).resolve().parent.parent / "images"
COLOURS = {"system": "#f4d58d", "user": "#9ecae1", "assistant": "#a1d99b", "model": "#d9d9d9"}


def box(ax, x: float, y: float, text: str, kind: str, width: float = 2.6) -> None:
    ax.add_patch(
        FancyBboxPatch((x, y), width, 0.55, boxstyle="round,pad=0.05", fc=COLOURS[kind], ec="#444", lw=1)
    )
    ax.text(x + width / 2, y + 0.27, text, ha="center", va="center", fontsize=9)


def arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str = "", dx: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#444", lw=1.2))
    if label:
        ax.text((start[0] + end[0]) / 2 + dx, (start[1] + end[1]) / 2 + 0.12, label, ha="center", fontsize=8)


def message_flow() -> None:
    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    for column, turn in enumerate((1, 2)):
        x = 0.3 + column * 6
        ax.text(x + 1.3, 5.85, f"第 {turn} 轮：发送的消息列表", ha="center", fontsize=10, weight="bold")
        rows = [("system：角色与规则", "system"), ("user：问题 1", "user")]
        if turn == 2:
            rows += [("assistant：回答 1", "assistant"), ("user：问题 2", "user")]
        for row, (text, kind) in enumerate(rows):
            box(ax, x, 5.0 - row * 0.75, text, kind)
        bottom = 5.0 - (len(rows) - 1) * 0.75
        box(ax, x + 3.1, 3.6, "模型", "model", width=1.6)
        arrow(ax, (x + 2.7, bottom + 0.3), (x + 3.1, 3.85))  # the request
        box(ax, x + 3.1, 1.2, f"assistant：回答 {turn}", "assistant", width=2.4)
        arrow(ax, (x + 3.9, 3.55), (x + 3.9, 1.8), "响应")
    arrow(ax, (3.4 + 2.4, 1.45), (6.3, 3.0), "追加回答，再加问题 2", dx=1.2)
    ax.text(6, 0.35, "API 不记得任何事：每次请求都带上完整的消息列表。", ha="center", fontsize=10)
    fig.savefig(OUT / "message_flow.png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def shapes() -> None:
    fig, ax = plt.subplots(figsize=(1.2, 0.8), dpi=50)
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.add_patch(plt.Circle((0.5, 0.5), 0.35, color="#d62728"))
    ax.add_patch(plt.Rectangle((1.15, 0.15), 0.7, 0.7, color="#1f77b4"))
    ax.add_patch(plt.Polygon([(2.15, 0.15), (2.85, 0.15), (2.5, 0.85)], color="#2ca02c"))
    fig.savefig(OUT / "shapes.png", metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        font = use_chinese_font()
    if font is None:
        sys.exit(MISSING_FONT_MESSAGE)
    OUT.mkdir(exist_ok=True)
    message_flow()
    shapes()
    print(f"wrote {OUT / 'message_flow.png'} and {OUT / 'shapes.png'}")
