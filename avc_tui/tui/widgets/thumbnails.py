"""Small pictures of video frames in any terminal: each character cell shows two pixels, the
upper half block ``▀`` in the upper pixel's colour over the lower pixel's colour as background
(24-bit colour where the terminal has it; Rich reduces it to the 256 or 16 colours of others)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text

UPPER_HALF = "▀"


def half_blocks(frame: np.ndarray, width: int) -> Text:
    """``frame`` (H × W × 3, uint8) as ``width`` cells across and as many rows as keep its
    aspect (two pixel rows a line; terminal cells are about twice as tall as wide)."""
    height, frame_width = frame.shape[:2]
    rows = max(1, round(height / frame_width * width / 2))
    ys = np.minimum((np.arange(2 * rows) + 0.5) * height / (2 * rows), height - 1).astype(int)
    xs = np.minimum((np.arange(width) + 0.5) * frame_width / width, frame_width - 1).astype(int)
    pixels = frame[ys][:, xs]  # nearest neighbour: (2 rows) × width × 3
    text = Text()
    for row in range(rows):
        top, bottom = pixels[2 * row], pixels[2 * row + 1]
        for (r1, g1, b1), (r2, g2, b2) in zip(top.tolist(), bottom.tolist()):
            text.append(UPPER_HALF, Style(color=f"rgb({r1},{g1},{b1})",
                                          bgcolor=f"rgb({r2},{g2},{b2})"))
        if row < rows - 1:
            text.append("\n")
    return text


def most_attended(frames: np.ndarray, times: Sequence[float], weights: Sequence[float],
                  count: int = 3) -> list[tuple[int, float, float]]:
    """The ``count`` frames with the largest weights, in time order: (index, time, weight)."""
    order = sorted(range(min(len(frames), len(weights))), key=lambda i: -weights[i])[:count]
    return [(i, float(times[i]), float(weights[i])) for i in sorted(order)]


def thumbnail_strip(frames: np.ndarray, times: Sequence[float], weights: Sequence[float], *,
                    count: int = 3, width: int = 24) -> Group:
    """The most-attended frames side by side, each captioned with its time and weight."""
    chosen = most_attended(frames, times, weights, count)
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for _ in chosen:
        table.add_column()
    table.add_row(*(half_blocks(frames[i], width) for i, _, _ in chosen))
    table.add_row(*(Text(f"{t:.1f} s · weight {w:.3f}", style="cyan") for _, t, w in chosen))
    return Group(Text("most-attended frames", style="bold"), table)
