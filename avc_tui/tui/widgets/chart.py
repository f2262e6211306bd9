"""A line chart drawn with Braille dots (2 × 4 dots per cell), one colour per series."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

# Dot bit of (x, y) inside a Braille cell, x in 0..1, y in 0..3 from the top.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red")


def render_chart(series: dict[str, list[tuple[float, float]]], width: int, height: int,
                 *, title: str = "") -> Text:
    """Series {name: [(x, y)]} as ``height`` lines of ``width`` cells plus a legend line."""
    text = Text()
    if title:
        text.append(title + "\n", style="bold")
    points = [p for values in series.values() for p in values]
    plot_w = max(4, width - 8)
    plot_h = max(2, height - 2 - bool(title))
    if not points:
        text.append("no points yet".center(width), style="dim")
        return text
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    if x1 == x0:
        x1 = x0 + 1
    cells = [[0] * plot_w for _ in range(plot_h)]
    owner = [[-1] * plot_w for _ in range(plot_h)]
    dots_w, dots_h = plot_w * 2, plot_h * 4
    for index, values in enumerate(series.values()):
        ordered = sorted(values)
        previous = None
        for x, y in ordered:
            dx = round((x - x0) / (x1 - x0) * (dots_w - 1))
            dy = round((y1 - y) / (y1 - y0) * (dots_h - 1))
            for px, py in _line(previous, (dx, dy)):
                cells[py // 4][px // 2] |= _DOTS[py % 4][px % 2]
                owner[py // 4][px // 2] = index
            previous = (dx, dy)
    for row in range(plot_h):
        label = f"{y1:7.3g} " if row == 0 else f"{y0:7.3g} " if row == plot_h - 1 else " " * 8
        text.append(label, style="dim")
        for col in range(plot_w):
            bits = cells[row][col]
            style = COLOURS[owner[row][col] % len(COLOURS)] if bits else ""
            text.append(chr(0x2800 + bits), style=style)
        text.append("\n")
    text.append(" " * 8 + f"{x0:g}".ljust(plot_w - len(f"{x1:g}")) + f"{x1:g}\n", style="dim")
    for index, name in enumerate(series):
        text.append("━━ ", style=COLOURS[index % len(COLOURS)])
        text.append(f"{name}  ")
    return text


def _line(start: tuple[int, int] | None, end: tuple[int, int]):
    """The dots from ``start`` to ``end`` (Bresenham); just ``end`` without a start."""
    if start is None:
        yield end
        return
    (x, y), (x2, y2) = start, end
    dx, dy = abs(x2 - x), -abs(y2 - y)
    sx, sy = (1 if x < x2 else -1), (1 if y < y2 else -1)
    err = dx + dy
    while True:
        yield x, y
        if (x, y) == (x2, y2):
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x += sx
        if e2 <= dx:
            err += dx
            y += sy


class Chart(Widget):
    """A chart of named series that redraws at its current size."""

    DEFAULT_CSS = "Chart { height: 12; }"

    def __init__(self, title: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.series: dict[str, list[tuple[float, float]]] = {}

    def set_series(self, series: dict[str, list[tuple[float, float]]]) -> None:
        self.series = {k: list(v) for k, v in series.items()}
        self.refresh()

    @property
    def point_count(self) -> int:
        return sum(len(v) for v in self.series.values())

    def render(self) -> Text:
        return render_chart(self.series, self.size.width, self.size.height, title=self.title)
