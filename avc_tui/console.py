"""Rich rendering for the CLI: live progress from engine events, result tables, error lines."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from avc_tui.formatting import fmt_pct
from core.errors import AvcError
from core.events import (
    EpochFinished,
    Event,
    ExtractionFinished,
    ExtractionStarted,
    RunWarning,
    StepFinished,
    TrainingFinished,
    TrainingStarted,
    VideoExtracted,
)

console = Console()
err_console = Console(stderr=True)


def print_error(error: AvcError) -> None:
    """One line for the error, one for the hint; no traceback."""
    # Escaped: messages name files and hints name extras ('.[sru]') that are not Rich markup.
    err_console.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False,
                      soft_wrap=True)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {escape(error.hint)}", highlight=False,
                          soft_wrap=True)


class ProgressReporter:
    """An engine event callback that draws extraction and training progress with Rich.

    Use as a context manager around the engine call; ``quiet`` draws no bars and prints the
    one-line summaries to stderr, so that stdout stays free for machine-readable output. Bars
    are drawn only on a terminal (a log file or a pipe gets the summaries); ``summaries=False``
    leaves those out too (the caller prints its own).
    """

    def __init__(self, label: str = "", *, quiet: bool = False, summaries: bool = True) -> None:
        self.label = label
        self.quiet = quiet
        self.summaries = summaries
        target = err_console if quiet else console
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=target, transient=True, disable=quiet or not target.is_terminal,
        )
        self.extract_task: TaskID | None = None
        self.train_task: TaskID | None = None
        self.epochs = 0
        self.last_epoch: dict[str, float] = {}

    def __enter__(self) -> ProgressReporter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        prefix = f"{self.label} " if self.label else ""
        if isinstance(event, ExtractionStarted):
            self.extract_task = self.progress.add_task(
                f"{prefix}extract {event.backbone}", total=event.total_videos,
                completed=event.cached_videos, info=f"{event.cached_videos} cached")
        elif isinstance(event, VideoExtracted) and self.extract_task is not None:
            info = f"[red]unreadable: {event.path}[/]" if event.error else f"{event.frames} frames"
            self.progress.update(self.extract_task, completed=event.done, info=info)
        elif isinstance(event, ExtractionFinished):
            if self.extract_task is not None:
                self.progress.remove_task(self.extract_task)
                self.extract_task = None
            if (event.extracted or event.failed) and self.summaries:
                rate = event.frames / event.seconds if event.seconds > 0 else 0.0
                self.progress.console.print(
                    f"{prefix}features: {event.extracted} videos extracted, {event.cached} cached, "
                    f"{event.failed} unreadable ({rate:.0f} frames/s)", highlight=False)
        elif isinstance(event, TrainingStarted):
            self.epochs = event.epochs
            self.train_task = self.progress.add_task(
                f"{prefix}train", total=event.epochs * event.steps_per_epoch,
                completed=event.start_epoch * event.steps_per_epoch, info="")
        elif isinstance(event, StepFinished) and self.train_task is not None:
            last = self.last_epoch
            val = f" val_acc {last['val_acc']:.3f}" if "val_acc" in last else ""
            self.progress.update(
                self.train_task, completed=event.global_step,
                info=f"epoch {event.epoch}/{self.epochs} loss {event.loss:.4f}{val}")
        elif isinstance(event, EpochFinished):
            self.last_epoch = dict(event.metrics)
        elif isinstance(event, RunWarning):
            self.progress.console.print(f"[yellow]warning:[/] {escape(event.message)}",
                                        highlight=False, soft_wrap=True)
        elif isinstance(event, TrainingFinished) and self.train_task is not None:
            self.progress.remove_task(self.train_task)
            self.train_task = None


def grid_table(title: str, rows: Sequence[str], columns: Sequence[str],
               cells: dict[tuple[str, str], float]) -> Table:
    """Backbone × head table of accuracies in percent, the best cell in bold green."""
    table = Table(title=title, title_justify="left")
    table.add_column("CNN", style="bold")
    for column in columns:
        table.add_column(column, justify="right")
    best = max(cells.values(), default=None)
    for row in rows:
        values = []
        for column in columns:
            value = cells.get((row, column))
            text = fmt_pct(value)
            values.append(f"[bold green]{text}[/]" if value is not None and value == best else text)
        table.add_row(row, *values)
    return table


def markdown_grid(rows: Sequence[str], columns: Sequence[str],
                  cells: dict[tuple[str, str], float]) -> str:
    """The same table as Markdown (accuracies in percent)."""
    lines = ["| CNN | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(fmt_pct(cells.get((row, c))) for c in columns)
                     + " |")
    return "\n".join(lines)
