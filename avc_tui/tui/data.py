"""What the TUI shows, read from the registry as plain data. These functions run in worker
threads (never on the UI's event loop) and return dataclasses the screens render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from avc_tui.registry import Registry, Status, now
from avc_tui.registry.models import Experiment
from core.choices import SELECTION_KEYS
from core.run_folder import RunFolder

DASHBOARD_LIMIT = 1000
# The curves: loss, and the metric a run is selected by (accuracy, or mAP for multi-label runs).
CURVE_KEYS = ("loss", *SELECTION_KEYS.values())


@dataclass
class Row:
    """One dashboard line."""

    id: int
    name: str
    status: str
    dataset: str
    backbone: str
    head: str
    epoch: int
    epochs: int | None
    loss: float | None
    acc: float | None
    best: float | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or (now() if self.status == Status.RUNNING else None)
        return (end - self.started_at).total_seconds() if end else None

    @property
    def eta(self) -> float | None:
        """Seconds left, from the time per epoch so far (running experiments only)."""
        if self.status != Status.RUNNING or not self.epochs or self.epoch <= 0 or not self.duration:
            return None
        return self.duration / self.epoch * max(0, self.epochs - self.epoch)

    def matches(self, text: str) -> bool:
        text = text.lower().strip()
        return not text or any(text in str(v).lower() for v in (
            self.id, self.name, self.status, self.dataset, self.backbone, self.head))


@dataclass
class Snapshot:
    """The dashboard's rows (newest ``DASHBOARD_LIMIT``) and how many the registry holds."""

    rows: list[Row]
    total: int
    max_id: int
    taken_at: datetime = field(default_factory=now)


def _row(e: Experiment, live: dict[int, tuple[float | None, float | None, float | None]]) -> Row:
    loss, acc, best = live.get(e.id, (e.test_loss, e.test_top1, e.test_top1))
    return Row(e.id, e.name, e.status, e.dataset, e.backbone, e.head, e.epoch or 0, e.epochs,
               loss, acc, best, e.started_at, e.finished_at, e.error)


def _live_metrics(registry: Registry, rows: list[Experiment]
                  ) -> dict[int, tuple[float | None, float | None, float | None]]:
    """Latest train loss, latest and best validation accuracy of the running experiments."""
    return {e.id: registry.latest_epoch_metrics(e.id) for e in rows
            if e.status == Status.RUNNING}


def load_snapshot(registry: Registry, limit: int = DASHBOARD_LIMIT) -> Snapshot:
    """Every experiment (the newest ``limit``), with live metrics for running ones."""
    registry.mark_lost()
    experiments = registry.list(sort="id", descending=True, limit=limit, light=True)
    live = _live_metrics(registry, experiments)
    rows = [_row(e, live) for e in experiments]
    return Snapshot(rows, registry.count(), max((r.id for r in rows), default=0))


def load_changes(registry: Registry, since: datetime, max_id: int) -> list[Row]:
    """Rows that may have changed since ``since``: active ones, new ones, newly ended ones."""
    registry.mark_lost()
    experiments = registry.changes(since, max_id)
    live = _live_metrics(registry, experiments)
    return [_row(e, live) for e in experiments]


@dataclass
class Detail:
    """Everything the experiment screen shows."""

    experiment: Experiment
    artifacts: list
    log_tail: list[str]


def load_detail(registry: Registry, experiment_id: int, log_lines: int = 20) -> Detail:
    registry.mark_lost()
    experiment = registry.get(experiment_id)
    log = RunFolder(experiment.run_dir).log
    tail: list[str] = []
    if log.is_file():
        with open(log, "rb") as handle:
            handle.seek(max(0, log.stat().st_size - 16_384))
            tail = handle.read().decode(errors="replace").splitlines()[-log_lines:]
    return Detail(experiment, registry.artifacts(experiment_id), tail)


@dataclass
class Curves:
    """Per-epoch series of one experiment, and the id of the last point read."""

    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    last_id: int = 0

    def add(self, points) -> bool:
        changed = False
        for p in points:
            self.last_id = max(self.last_id, p.id)
            if p.split in ("train", "val") and p.key in CURVE_KEYS:
                self.series.setdefault(f"{p.split} {p.key}", []).append((p.epoch, p.value))
                changed = True
        return changed


def load_points(registry: Registry, experiment_id: int, after_id: int):
    """The epoch-level points the curves draw (not the per-step ones), newer than ``after_id``."""
    return registry.points(experiment_id, after_id=after_id, keys=CURVE_KEYS)
