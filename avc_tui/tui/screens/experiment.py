"""One experiment: live curves, config, timings, metrics, per-class accuracy, confusion heat map,
artifacts, the error of a failed run and the tail of its log."""

from __future__ import annotations

import json

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from avc_tui.formatting import STATUS_STYLE, fmt_duration, fmt_pct, fmt_time
from avc_tui.metrics_text import headline, per_class
from avc_tui.registry import Status
from avc_tui.runner.system import CPU, GPU_MEMORY, GPU_UTIL, LABELS, RSS

MEMORY_LABELS = {RSS: "memory", GPU_MEMORY: "GPU memory"}
from avc_tui.tui.data import Curves, Detail, load_detail, load_points
from avc_tui.tui.screens.predict import PredictScreen
from avc_tui.tui.widgets.chart import Chart
from avc_tui.tui.widgets.heatmap import confusion_heatmap


class ExperimentScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("p", "predict", "Predict"),
    ]
    POLL_SECONDS = 1.0

    def __init__(self, experiment_id: int) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.curves = Curves()
        self.detail: Detail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(id="title")
            with Horizontal(id="charts"):
                yield Chart("loss", id="loss-chart")
                yield Chart("accuracy", id="acc-chart")
            with Horizontal(id="system-charts"):
                yield Chart("CPU and GPU use, % (x: seconds)", id="cpu-chart")
                yield Chart("memory, GB (x: seconds)", id="memory-chart")
            yield Static(id="info", classes="panel")
            yield Static(id="metrics", classes="panel")
            yield Static(id="confusion", classes="panel")
            yield Static(id="artifacts", classes="panel")
            yield Static(id="error", classes="panel")
            yield Static(id="log", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(self.POLL_SECONDS, self.refresh_data)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def refresh_data(self) -> None:
        registry = self.app.registry
        try:
            detail = load_detail(registry, self.experiment_id)
            points = load_points(registry, self.experiment_id, self.curves.last_id)
        except Exception as error:  # noqa: BLE001 - deleted meanwhile, database gone, …
            self.app.call_from_thread(self.app.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.show, detail, points)

    def show(self, detail: Detail, points) -> None:
        self.detail = detail
        if self.curves.add(points) or not self.query_one("#loss-chart", Chart).series:
            series = self.curves.series
            self.query_one("#loss-chart", Chart).set_series(
                {k: v for k, v in series.items() if k.endswith("loss")})
            self.query_one("#acc-chart", Chart).set_series(
                {k: v for k, v in series.items() if not k.endswith("loss")})
        system = self.curves.system
        self.query_one("#system-charts").display = bool(system)
        if system:
            self.query_one("#cpu-chart", Chart).set_series(
                {LABELS[k]: system[k] for k in (CPU, GPU_UTIL) if k in system})
            self.query_one("#memory-chart", Chart).set_series(  # in GB: short axis labels
                {MEMORY_LABELS[k]: [(x, mb / 1024) for x, mb in system[k]]
                 for k in (RSS, GPU_MEMORY) if k in system})
        e = detail.experiment
        title = Text()
        title.append(f"{e.id} {e.name}  ", style="bold")
        title.append(e.status, style=STATUS_STYLE.get(e.status, ""))
        if e.status == Status.RUNNING and e.epochs:
            title.append(f"  epoch {e.epoch}/{e.epochs}")
        self.query_one("#title", Static).update(title)
        self.query_one("#info", Static).update(self._info(e, detail.attempts))
        self.query_one("#metrics", Static).update(self._metrics(e))
        result = e.result or {}
        test = result.get("test") or {}
        confusion = self.query_one("#confusion", Static)
        confusion.display = bool(test.get("confusion"))
        if test.get("confusion"):
            confusion.update(confusion_heatmap(result.get("classes", []), test["confusion"]))
        artifacts = self.query_one("#artifacts", Static)
        artifacts.display = bool(detail.artifacts)
        if detail.artifacts:
            table = Table("kind", "path", "size", "sha256", title="Artifacts",
                          title_justify="left", box=None)
            for a in detail.artifacts:
                table.add_row(a.kind, a.path, f"{a.size:,}", a.sha256[:12])
            artifacts.update(table)
        error = self.query_one("#error", Static)
        warnings = (e.result or {}).get("warnings", [])
        error.display = bool(e.error or warnings)
        parts: list[str | tuple[str, str]] = []
        if e.error:
            parts += [("Error\n", "bold red"), e.error.strip()]
        for warning in warnings:
            parts += ["\n" if parts else "", ("warning: ", "yellow"), warning]
        if parts:
            error.update(Text.assemble(*parts))
        log = self.query_one("#log", Static)
        log.display = bool(detail.log_tail)
        if detail.log_tail:
            log.update(Text.assemble(("Log (tail)\n", "bold"), "\n".join(detail.log_tail)))

    def _info(self, e, attempts: list) -> Table | Group:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        duration = ((e.finished_at - e.started_at).total_seconds()
                    if e.finished_at and e.started_at else None)
        config = e.config or {}
        rows = [
            ("dataset", f"{e.dataset} (split {e.split})"), ("backbone", e.backbone),
            ("head", e.head), ("preset", f"{e.preset}, seed {e.seed}"),
            ("device", f"{e.device or '—'} on {e.host or '—'} (pid {e.pid or '—'})"),
            ("attempt", f"{e.attempt or '—'}"
                        + (f" (Ray node {e.node_id[:12]})" if e.node_id else "")),
            ("created", fmt_time(e.created_at)), ("started", fmt_time(e.started_at)),
            ("finished", fmt_time(e.finished_at)), ("duration", fmt_duration(duration)),
            ("heartbeat", fmt_time(e.heartbeat_at)), ("run folder", e.run_dir),
            ("features", json.dumps(config.get("features", {}))),
            ("head config", json.dumps(config.get("head", {}))),
            ("training", json.dumps(config.get("train", {}))),
        ]
        for key, value in rows:
            table.add_row(key, value)
        if len(attempts) < 2 and all(a.executor == "local" for a in attempts):
            return table
        tried = Table("#", "executor", "host", "node", "GPUs", "started", "status", "reason",
                      title="Attempts", title_justify="left", box=None)
        for a in attempts:
            tried.add_row(str(a.number), a.executor, a.host or "—", (a.node_id or "—")[:12],
                          a.gpus or "—", fmt_time(a.started_at), a.status or "running",
                          Text(a.reason or ""))  # Text: a reason is not markup
        return Group(table, Text(""), tried)

    def _metrics(self, e) -> Group | Text:
        result = e.result or {}
        test = result.get("test")
        if not test:
            return Text("final metrics appear when the run finishes", style="dim")
        summary = Text(f"Test: {headline(test)}", style="bold")
        column, rows, left_out = per_class(result.get("classes", []), test)
        table = Table(box=None, caption=f"and {left_out} more classes" if left_out else None)
        table.add_column("class")
        table.add_column(column, justify="right")
        table.add_column("")
        for name, value in rows:
            table.add_row(name, fmt_pct(value), "█" * int(20 * (value or 0)))
        return Group(summary, table)

    def action_cancel(self) -> None:
        self.app.cancel_experiment(self.experiment_id)

    def action_resume(self) -> None:
        self.app.resume_experiment(self.experiment_id)

    def action_predict(self) -> None:
        self.app.push_screen(PredictScreen(self.experiment_id))
