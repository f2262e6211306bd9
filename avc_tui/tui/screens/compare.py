"""The comparison table: backbone × attention mode for a dataset and a metric, the best cell
highlighted, optionally beside the ABDN paper's numbers with the difference; export from here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Select, Static

from avc_tui.compare import COUNT, METRICS, PAPER, SD, comparison, render, value_columns

ALL = "all datasets"


class CompareScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("e", "export('csv')", "Export CSV"),
                Binding("m", "export('markdown')", "Export Markdown")]

    def __init__(self) -> None:
        super().__init__()
        self.table_data: pd.DataFrame | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            with Horizontal(id="compare-controls"):
                yield Select([(ALL, ALL)], value=ALL, allow_blank=False, id="dataset")
                yield Select([(f"test {m}", m) for m in METRICS], value="top1",
                             allow_blank=False, id="metric")
                yield Select([("no paper numbers", "none"),
                              *[(f"beside ABDN {p}", p) for p in PAPER]],
                             value="none", allow_blank=False, id="paper")
                yield Button("CSV", id="csv")
                yield Button("Markdown", id="markdown")
            yield DataTable(id="comparison", cursor_type="cell")
            yield Static("", id="compare-note")
        yield Footer()

    def on_mount(self) -> None:
        self.load_datasets()
        self.reload()

    @work(thread=True, group="datasets", exit_on_error=False)
    def load_datasets(self) -> None:
        names = self.app.registry.dataset_names()
        self.app.call_from_thread(
            self.query_one("#dataset", Select).set_options,
            [(ALL, ALL), *[(n, n) for n in names]])

    @on(Select.Changed)
    def changed(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def reload(self) -> None:
        dataset = self.query_one("#dataset", Select).value
        metric = self.query_one("#metric", Select).value
        paper = self.query_one("#paper", Select).value
        records = self.app.registry.results(
            dataset=None if dataset in (ALL, Select.BLANK) else dataset)
        table = comparison(records, paper=None if paper == "none" else paper, metric=metric)
        self.app.call_from_thread(self.show, table)

    def show(self, table: pd.DataFrame) -> None:
        self.table_data = table
        widget = self.query_one(DataTable)
        widget.clear(columns=True)
        note = self.query_one("#compare-note", Static)
        if table.empty:
            note.update("no finished experiments yet: launch some with n on the dashboard")
            return
        ours = value_columns(table)
        best = table[ours].max().max()
        widget.add_column("CNN", key="CNN",
                          width=max(len("CNN"), *(len(str(n)) for n in table.index)))
        for column in ours:
            widget.add_column(column, key=column)
        for name, values in table.iterrows():
            cells = [Text(str(name), style="bold")]
            for column in ours:
                value = values[column]
                n = values.get(column + COUNT)
                text = Text("—" if pd.isna(value) else f"{value:.1f}",
                            style="bold green" if value == best else "")
                if n is not None and not pd.isna(n) and n > 1:
                    text.append(f" ± {values[column + SD]:.1f} ({int(n)})")
                paper = values.get(f"{column} (paper)")
                if paper is not None and not pd.isna(paper):
                    diff = "" if pd.isna(value) else f" {value - paper:+.1f}"
                    text.append(f"  paper {paper:.1f}{diff}", style="dim")
                cells.append(text)
            widget.add_row(*cells)
        note.update("best cell in green; a cell of several trials shows mean ± sd (n); with "
                    "paper numbers each cell shows the paper's value and our difference. "
                    "e: export CSV, m: export Markdown")

    @on(Button.Pressed)
    def export_pressed(self, event: Button.Pressed) -> None:
        self.action_export(event.button.id)

    def action_export(self, fmt: str) -> None:
        if self.table_data is None or self.table_data.empty:
            self.notify("nothing to export yet", severity="warning")
            return
        path = Path.cwd() / f"avc-compare.{'csv' if fmt == 'csv' else 'md'}"
        try:
            path.write_text(render(self.table_data, fmt) + "\n")
        except OSError as error:
            self.notify(f"cannot write {path}: {error}", severity="error")
            return
        self.notify(f"wrote {path}")
