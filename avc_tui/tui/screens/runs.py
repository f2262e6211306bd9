"""Several experiments side by side (marked on the dashboard with space, opened with v): their
validation curves overlaid, the trials of one cell as mean, min and max, and the config fields
in which they differ."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from avc_tui.tui.data import RunsView, load_runs
from avc_tui.tui.widgets.chart import Chart


class RunsScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    POLL_SECONDS = 2.0

    def __init__(self, experiment_ids: list[int]) -> None:
        super().__init__()
        self.experiment_ids = experiment_ids
        self.view: RunsView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(id="runs-title")
            yield Chart("validation", id="runs-chart")
            yield Static("[b]Config fields that differ[/b]", id="diff-title")
            yield DataTable(id="diff", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(self.POLL_SECONDS, self.reload)  # curves of running runs grow

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def reload(self) -> None:
        try:
            view = load_runs(self.app.registry, self.experiment_ids)
        except Exception as error:  # noqa: BLE001 - removed meanwhile, a lost connection
            self.app.call_from_thread(self.app.notify, f"cannot read the runs: {error}",
                                      severity="error")
            return
        self.app.call_from_thread(self.show, view)

    def show(self, view: RunsView) -> None:
        first = self.view is None
        self.view = view
        runs = ", ".join(f"{i} {view.names[i]}" for i in view.ids)
        self.query_one("#runs-title", Static).update(f"[b]{len(view.ids)} runs[/b]: {runs}")
        chart = self.query_one("#runs-chart", Chart)
        chart.title = (f"validation {view.metric} by epoch (several trials of a cell: mean, min, "
                       f"max)")
        chart.set_series(view.series)
        if not first:
            return
        table = self.query_one("#diff", DataTable)
        table.add_column("field", key="field")
        for experiment_id in view.ids:
            table.add_column(str(experiment_id), key=str(experiment_id))
        for field, values in view.differences:
            table.add_row(field, *values, key=field)
        if not view.differences:
            self.query_one("#diff-title", Static).update("[b]Their configs are the same[/b]")
