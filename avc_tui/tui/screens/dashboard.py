"""The dashboard: every experiment in one table that updates itself while runs stream."""

from __future__ import annotations

from datetime import timedelta

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from avc_tui.formatting import STATUS_STYLE, fmt_age, fmt_duration, fmt_pct
from avc_tui.registry import now
from avc_tui.tui.data import GroupRow, Row, Snapshot, group_rows, load_changes, load_snapshot
from avc_tui.tui.screens.compare import CompareScreen
from avc_tui.tui.screens.dialogs import ConfirmScreen
from avc_tui.tui.screens.experiment import ExperimentScreen
from avc_tui.tui.screens.launch import LaunchScreen
from avc_tui.tui.screens.predict import PredictScreen
from avc_tui.tui.screens.runs import RunsScreen

COLUMNS = (("id", "id"), ("status", "status"), ("dataset", "dataset"), ("backbone", "backbone"),
           ("head", "head"), ("progress", "progress"), ("loss", "loss"), ("acc", "acc"),
           ("best", "best"), ("started", "started"), ("duration", "duration"),
           ("where", "where"), ("use", "use"))
SORT_KEYS = {
    "id": lambda r: r.id, "status": lambda r: r.status, "dataset": lambda r: r.dataset,
    "backbone": lambda r: r.backbone, "head": lambda r: r.head,
    "progress": lambda r: r.epoch / r.epochs if r.epochs else 0.0,
    "loss": lambda r: r.loss if r.loss is not None else float("inf"),
    "acc": lambda r: r.acc if r.acc is not None else -1.0,
    "best": lambda r: r.best if r.best is not None else -1.0,
    "where": lambda r: r.where,
    "use": lambda r: r.use.get("cpu_percent", -1.0),
    "started": lambda r: r.started_at.timestamp() if r.started_at else 0.0,
    "duration": lambda r: r.duration or 0.0,
}
EMPTY_HELP = """[b]No experiments yet.[/b]

Press [b]n[/b] to launch a run or a grid here, or from a shell:

  avc demo                                  the synthetic dataset and all 15 ABDN runs
  avc run DATA -b vgg16 --head cnn-lstm-attention
  avc grid DATA --jobs 2

They appear here at once and stream while they train. [b]?[/b] lists every key."""


def _widths(rows: list[list]) -> list[int]:
    """The width of each column: its label's or its widest cell's, in terminal cells."""
    widths = [cell_len(label) for label, _ in COLUMNS]
    for values in rows:
        for i, value in enumerate(values):
            widths[i] = max(widths[i], value.cell_len if isinstance(value, Text)
                            else cell_len(value))
    return widths


def cells(row: Row) -> list:
    progress = f"{row.epoch}/{row.epochs}" if row.epochs else str(row.epoch or "—")
    if isinstance(row, GroupRow):
        progress += " done"
    elif row.eta is not None:
        progress += f" eta {fmt_duration(row.eta)}"
    return [
        row.label if isinstance(row, GroupRow) else str(row.id),
        Text(row.status, style=STATUS_STYLE.get(row.status, "")), row.dataset,
        row.backbone, row.head, progress,
        "—" if row.loss is None else f"{row.loss:.4f}", fmt_pct(row.acc), fmt_pct(row.best),
        fmt_age(row.started_at, now()),
        fmt_duration(row.duration), "" if isinstance(row, GroupRow) else row.where,
        row.use_text,
    ]


class DashboardScreen(Screen):
    """All experiments; running ones update live without a key press."""

    AGE_SECONDS = 15  # how often the "started … ago" column moves on

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("c", "compare", "Compare"),
        Binding("p", "predict", "Predict"),
        Binding("n", "launch", "New run"),
        Binding("x", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("d", "delete", "Delete"),
        Binding("s", "sort", "Sort"),
        # In the help screen: the footer is full.
        Binding("g", "toggle_groups", "Groups", show=False),
        Binding("space", "mark", "Mark", show=False),
        Binding("v", "runs", "Runs side by side", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    POLL_SECONDS = 1.0
    AUTO_FOCUS = "#experiments"

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, Row] = {}
        self.max_id = 0
        self.total = 0
        self.since = None
        self.filter_text = ""
        self.sort_column = "id"
        self.sort_reverse = True
        self.loaded = False
        self.widths = [0] * len(COLUMNS)
        self.grouped = False  # each group (one grid) folded into one row
        self.marked: set[int] = set()  # experiments marked for the runs view
        self.group_names: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Input(placeholder="filter: text in id, name, status, dataset, backbone, head",
                        id="filter")
            yield Static(EMPTY_HELP, id="empty")
            yield DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
            yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one("#empty").display = False
        self.reload()
        self.set_interval(self.POLL_SECONDS, self.poll)
        self.set_interval(self.AGE_SECONDS, self.refresh_ages)

    # --- data ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="reload", exit_on_error=False)
    def reload(self) -> None:
        try:
            snapshot = load_snapshot(self.app.registry)
        except Exception as error:  # noqa: BLE001 - a lost database connection, a locked file
            self.app.call_from_thread(self.app.notify, f"cannot read the registry: {error}",
                                      severity="error")
            return
        self.app.call_from_thread(self.apply_snapshot, snapshot)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        self.rows = {r.id: r for r in snapshot.rows}
        self.group_names = snapshot.groups
        self.max_id, self.total, self.since = snapshot.max_id, snapshot.total, snapshot.taken_at
        self.loaded = True
        self.redraw()

    def poll(self) -> None:
        if self.loaded and self.since is not None:
            self.fetch_changes(self.since, self.max_id)

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def fetch_changes(self, since, max_id: int) -> None:
        taken = now() - timedelta(seconds=2)  # overlap: never miss an end between polls
        try:
            rows = load_changes(self.app.registry, since, max_id)
        except Exception:  # noqa: BLE001 - try again at the next poll
            return
        self.app.call_from_thread(self.apply_changes, rows, taken)

    def apply_changes(self, rows: list[Row], taken) -> None:
        table = self.query_one(DataTable)
        structural = False
        for row in rows:
            if row.id not in self.rows:
                structural = True
                self.total += 1
            self.rows[row.id] = row
            self.max_id = max(self.max_id, row.id)
            if self.grouped and row.group_id is not None:
                structural = True  # its group's row sums up all its runs: draw it anew
            if not structural and row.id in table.rows:
                values = cells(row)
                if any(w > have for w, have in zip(_widths([values]), self.widths)):
                    structural = True  # a column must grow: draw the table anew
                    continue
                for (_, key), value in zip(COLUMNS, self._marked(row, values)):
                    table.update_cell(str(row.id), key, value)
        self.since = taken
        if structural:
            self.redraw()

    def refresh_ages(self) -> None:
        """The "started" column says how long ago: it moves on without any change of the runs."""
        table = self.query_one(DataTable)
        column = [key for _, key in COLUMNS].index("started")
        stamp = now()
        for key in list(table.rows):
            row = self.rows.get(int(key.value)) if str(key.value).isdigit() else None
            if row is None:
                continue  # a group's row: redrawn with its runs
            age = fmt_age(row.started_at, stamp)
            if cell_len(age) > self.widths[column]:
                self.redraw()
                return
            table.update_cell(key, "started", age)

    def redraw(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_key()
        visible = [r for r in self.rows.values() if r.matches(self.filter_text)]
        if self.grouped:
            visible = group_rows(visible, self.group_names)
        visible.sort(key=SORT_KEYS[self.sort_column], reverse=self.sort_reverse)
        rendered = [self._marked(row, cells(row)) for row in visible]
        # Column widths set here from the cells rather than measured by the table when it is
        # next idle: what the table shows never depends on when it was last idle.
        self.widths = _widths(rendered)
        table.clear(columns=True)
        for (label, key), width in zip(COLUMNS, self.widths):
            table.add_column(label, key=key, width=width)
        for row, values in zip(visible, rendered):
            table.add_row(*values, key=_key(row))
        empty = not self.rows
        self.query_one("#empty").display = empty
        table.display = not empty
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        shown = f"{len(visible)} shown" + (f" (filter: {self.filter_text!r})"
                                           if self.filter_text else "")
        more = f", the newest {len(self.rows)} loaded" if self.total > len(self.rows) else ""
        direction = "↓" if self.sort_reverse else "↑"
        folded = "; groups folded (g unfolds)" if self.grouped else ""
        self.query_one("#summary", Static).update(
            f"{self.total} experiments{more}; {shown}; sorted by {self.sort_column} "
            f"{direction}{folded}")

    def selected_key(self) -> str | None:
        """The selected row's key: an experiment id, or ``g<id>`` for a group's row."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no valid cursor position
            return None
        return key.value

    def selected_id(self) -> int | None:
        """The selected experiment's id (None on a group's row)."""
        key = self.selected_key()
        return int(key) if key is not None and key.isdigit() else None

    def selected_group(self) -> int | None:
        key = self.selected_key()
        return int(key[1:]) if key is not None and key.startswith("g") else None

    # --- actions ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.redraw()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.redraw()
        self.query_one(DataTable).focus()

    def action_sort(self) -> None:
        names = [key for _, key in COLUMNS]
        if self.sort_reverse:
            self.sort_reverse = False
        else:
            self.sort_column = names[(names.index(self.sort_column) + 1) % len(names)]
            self.sort_reverse = True
        self.redraw()

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        self.sort_reverse = not self.sort_reverse if key == self.sort_column else True
        self.sort_column = key
        self.redraw()

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open()

    def _marked(self, row: Row, values: list) -> list:
        """The row's cells, its id shown reversed when it is marked."""
        if row.id in self.marked and not isinstance(row, GroupRow):
            values = [Text(values[0], style="reverse"), *values[1:]]
        return values

    def action_mark(self) -> None:
        experiment_id = self.selected_id()
        if experiment_id is None:
            return
        self.marked ^= {experiment_id}
        table = self.query_one(DataTable)
        row = self.rows[experiment_id]
        table.update_cell(str(experiment_id), "id", self._marked(row, cells(row))[0])
        table.action_cursor_down()

    def action_runs(self) -> None:
        marked = sorted(i for i in self.marked if i in self.rows)
        if len(marked) < 2:
            self.notify("mark two or more experiments with space, then press v",
                        severity="warning")
            return
        self.app.push_screen(RunsScreen(marked))

    def action_toggle_groups(self) -> None:
        self.grouped = not self.grouped
        self.redraw()

    def action_open(self) -> None:
        group_id = self.selected_group()
        if group_id is not None:  # unfold it: its runs only
            self.grouped = False
            self.filter_text = f"group:{group_id}"
            self.redraw()
            return
        experiment_id = self.selected_id()
        if experiment_id is not None:
            self.app.push_screen(ExperimentScreen(experiment_id))

    def action_compare(self) -> None:
        self.app.push_screen(CompareScreen())

    def action_predict(self) -> None:
        self.app.push_screen(PredictScreen(self.selected_id()))

    def action_launch(self) -> None:
        self.app.push_screen(LaunchScreen())

    def action_cancel(self) -> None:
        group_id, experiment_id = self.selected_group(), self.selected_id()
        if group_id is not None:
            self.app.cancel_group(group_id)
        elif experiment_id is not None:
            self.app.cancel_experiment(experiment_id)

    def action_resume(self) -> None:
        group_id, experiment_id = self.selected_group(), self.selected_id()
        if group_id is not None:
            self.app.resume_group(group_id)
        elif experiment_id is not None:
            self.app.resume_experiment(experiment_id)

    def action_delete(self) -> None:
        group_id = self.selected_group()
        if group_id is not None:
            self._delete_group(group_id)
            return
        experiment_id = self.selected_id()
        if experiment_id is None:
            return
        row = self.rows[experiment_id]

        def answer(confirmed: bool | None) -> None:
            if confirmed and self.app.delete_experiment(experiment_id):
                self.rows.pop(experiment_id, None)
                self.total -= 1
                self.redraw()

        self.app.push_screen(ConfirmScreen(f"Delete experiment {experiment_id} "
                                           f"({row.name}, {row.status}) from the registry?"),
                             answer)

    def _delete_group(self, group_id: int) -> None:
        members = [r for r in self.rows.values() if r.group_id == group_id]

        def answer(confirmed: bool | None) -> None:
            if confirmed and self.app.delete_group(group_id):
                for row in members:
                    self.rows.pop(row.id, None)
                self.total -= len(members)
                self.redraw()

        name = self.group_names.get(group_id, f"group {group_id}")
        self.app.push_screen(ConfirmScreen(f"Delete group {group_id} ({name}) and its "
                                           f"{len(members)} experiments from the registry?"),
                             answer)


def _key(row: Row) -> str:
    return f"g{row.group_id}" if isinstance(row, GroupRow) else str(row.id)
