"""Frames as half-block text: each cell is two pixels, the upper in the foreground colour."""

from __future__ import annotations

import numpy as np

from avc_tui.tui.widgets.thumbnails import half_blocks, most_attended


def test_each_cell_is_an_upper_and_a_lower_pixel() -> None:
    frame = np.array([[[255, 0, 0], [0, 255, 0]],
                      [[0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    text = half_blocks(frame, width=2)
    assert text.plain == "▀▀"
    styles = [span.style for span in text.spans]
    assert [(s.color.triplet.hex, s.bgcolor.triplet.hex) for s in styles] == [
        ("#ff0000", "#0000ff"), ("#00ff00", "#0a141e")]


def test_the_aspect_is_kept() -> None:
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    lines = half_blocks(frame, width=24).plain.split("\n")
    assert len(lines) == 9 and all(len(line) == 24 for line in lines)  # 48/64 × 24 / 2 ≈ 9


def test_the_most_attended_frames_in_time_order() -> None:
    frames = np.zeros((5, 2, 2, 3), dtype=np.uint8)
    chosen = most_attended(frames, [0, 1, 2, 3, 4], [0.1, 0.4, 0.05, 0.3, 0.15], count=3)
    assert [(i, t) for i, t, _ in chosen] == [(1, 1.0), (3, 3.0), (4, 4.0)]
