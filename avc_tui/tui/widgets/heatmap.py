"""The confusion matrix as a heat map: each cell's background by its share of the true class."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def confusion_heatmap(classes: list[str], confusion: list[list[int]]) -> Table:
    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left",
                  show_lines=False, pad_edge=False, padding=(0, 1))
    table.add_column("")
    for name in classes:
        table.add_column(name[:6], justify="right")
    for name, counts in zip(classes, confusion):
        total = max(1, sum(counts))
        cells = []
        for j, count in enumerate(counts):
            share = count / total
            level = int(40 + 180 * share)
            colour = f"rgb(0,{level},0)" if j == classes.index(name) else f"rgb({level},0,0)"
            cells.append(Text(str(count) if count else "·",
                              style=f"on {colour}" if count else "dim"))
        table.add_row(name[:14], *cells)
    return table
