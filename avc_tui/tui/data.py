"""What the TUI shows, read from the registry as plain data. These functions run in worker
threads (never on the UI's event loop) and return dataclasses the screens render."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from avc_tui.control import group_summary
from avc_tui.registry import Registry, Status, now
from avc_tui.registry.models import Experiment
from avc_tui.runner.system import CPU, GPU_UTIL, RSS, SYSTEM_KEYS
from avc_tui.runner.system import SPLIT as SYSTEM_SPLIT
from core.choices import SELECTION_KEYS
from core.config import cell_key
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
    group_id: int | None = None
    host: str | None = None
    attempt: int = 0
    use: dict[str, float] = field(default_factory=dict)  # a running run's latest system figures

    @property
    def where(self) -> str:
        """The host the run is on (or was last on), with its attempt once it was retried."""
        if not self.host:
            return "—"
        return self.host + (f" #{self.attempt}" if self.attempt > 1 else "")

    @property
    def use_text(self) -> str:
        """The live CPU, memory and GPU use of a running run ("CPU 180% 1.2 GB GPU 54%")."""
        if self.status != Status.RUNNING or not self.use:
            return ""
        parts = []
        if CPU in self.use:
            parts.append(f"CPU {self.use[CPU]:.0f}%")
        if RSS in self.use:
            parts.append(f"{self.use[RSS] / 1024:.1f} GB")
        if GPU_UTIL in self.use:
            parts.append(f"GPU {self.use[GPU_UTIL]:.0f}%")
        return " ".join(parts)

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
        if text.startswith("group:"):  # what opening a group row on the dashboard filters by
            return str(self.group_id) == text.removeprefix("group:").strip()
        return not text or any(text in str(v).lower() for v in (
            self.id, self.name, self.status, self.dataset, self.backbone, self.head))


@dataclass
class GroupRow(Row):
    """One dashboard line standing for a group's experiments (``epoch``/``epochs``: finished of
    all; ``acc``/``best``: the best of its runs)."""

    label: str = ""


def group_rows(rows: list[Row], names: dict[int, str]) -> list[Row]:
    """``rows`` with every group's experiments folded into one :class:`GroupRow`."""
    members: dict[int, list[Row]] = {}
    single = []
    for row in rows:
        if row.group_id is None:
            single.append(row)
        else:
            members.setdefault(row.group_id, []).append(row)
    folded: list[Row] = []
    for group_id, runs in members.items():
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        summary = group_summary(counts)
        starts = [r.started_at for r in runs if r.started_at]
        ended = all(r.finished_at for r in runs)

        def spread(values: set[str], what: str) -> str:
            return next(iter(values)) if len(values) == 1 else f"{len(values)} {what}"

        accuracies = [r.best for r in runs if r.best is not None]
        folded.append(GroupRow(
            id=max(r.id for r in runs), name=names.get(group_id, f"group {group_id}"),
            status=summary["status"], dataset=spread({r.dataset for r in runs}, "datasets"),
            backbone=spread({r.backbone for r in runs}, "backbones"),
            head=spread({r.head for r in runs}, "heads"), epoch=summary["done"],
            epochs=summary["total"], loss=None, acc=None,
            best=max(accuracies) if accuracies else None,
            started_at=min(starts) if starts else None,
            finished_at=max(r.finished_at for r in runs) if ended and starts else None,
            error=None, group_id=group_id, label=f"G{group_id}"))
    return single + folded


@dataclass
class Snapshot:
    """The dashboard's rows (newest ``DASHBOARD_LIMIT``) and how many the registry holds."""

    rows: list[Row]
    total: int
    max_id: int
    taken_at: datetime = field(default_factory=now)
    groups: dict[int, str] = field(default_factory=dict)  # group names


def _row(e: Experiment, live: dict[int, tuple[float | None, float | None, float | None]],
         use: dict[int, dict[str, float]] | None = None) -> Row:
    loss, acc, best = live.get(e.id, (e.test_loss, e.test_top1, e.test_top1))
    return Row(e.id, e.name, e.status, e.dataset, e.backbone, e.head, e.epoch or 0, e.epochs,
               loss, acc, best, e.started_at, e.finished_at, e.error, e.group_id, e.host,
               e.attempt or 0, (use or {}).get(e.id, {}))


def _live_metrics(registry: Registry, rows: list[Experiment]
                  ) -> dict[int, tuple[float | None, float | None, float | None]]:
    """Latest train loss, latest and best validation accuracy of the running experiments."""
    return {e.id: registry.latest_epoch_metrics(e.id) for e in rows
            if e.status == Status.RUNNING}


def _live_use(registry: Registry, rows: list[Experiment]) -> dict[int, dict[str, float]]:
    """The latest CPU, memory and GPU figures of the running experiments."""
    return {e.id: registry.latest_values(e.id, (CPU, RSS, GPU_UTIL), split=SYSTEM_SPLIT)
            for e in rows if e.status == Status.RUNNING}


def load_snapshot(registry: Registry, limit: int = DASHBOARD_LIMIT) -> Snapshot:
    """Every experiment (the newest ``limit``), with live metrics for running ones."""
    registry.mark_lost()
    experiments = registry.list(sort="id", descending=True, limit=limit, light=True)
    live, use = _live_metrics(registry, experiments), _live_use(registry, experiments)
    rows = [_row(e, live, use) for e in experiments]
    return Snapshot(rows, registry.count(), max((r.id for r in rows), default=0),
                    groups=group_names(registry))


def group_names(registry: Registry) -> dict[int, str]:
    return {group.id: group.name for group, _ in registry.groups()}


def load_changes(registry: Registry, since: datetime, max_id: int) -> list[Row]:
    """Rows that may have changed since ``since``: active ones, new ones, newly ended ones."""
    registry.mark_lost()
    experiments = registry.changes(since, max_id)
    live, use = _live_metrics(registry, experiments), _live_use(registry, experiments)
    return [_row(e, live, use) for e in experiments]


@dataclass
class Detail:
    """Everything the experiment screen shows."""

    experiment: Experiment
    artifacts: list
    log_tail: list[str]
    attempts: list = field(default_factory=list)


def load_detail(registry: Registry, experiment_id: int, log_lines: int = 20) -> Detail:
    registry.mark_lost()
    experiment = registry.get(experiment_id)
    log = RunFolder(experiment.run_dir).log
    tail: list[str] = []
    if log.is_file():
        with open(log, "rb") as handle:
            handle.seek(max(0, log.stat().st_size - 16_384))
            tail = handle.read().decode(errors="replace").splitlines()[-log_lines:]
    return Detail(experiment, registry.artifacts(experiment_id), tail,
                  registry.attempts(experiment_id))


@dataclass
class Curves:
    """Per-epoch series of one experiment, and the id of the last point read."""

    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    last_id: int = 0
    # The system figures (CPU, memory, GPU) by key, against seconds since the run started.
    system: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def add(self, points) -> bool:
        changed = False
        for p in points:
            self.last_id = max(self.last_id, p.id)
            if p.split in ("train", "val") and p.key in CURVE_KEYS:
                self.series.setdefault(f"{p.split} {p.key}", []).append((p.epoch, p.value))
                changed = True
            elif p.split == SYSTEM_SPLIT:
                self.system.setdefault(p.key, []).append((p.step, p.value))
                changed = True
        return changed


def load_points(registry: Registry, experiment_id: int, after_id: int):
    """The epoch-level points the curves draw (not the per-step ones) and the system figures,
    newer than ``after_id``."""
    return registry.points(experiment_id, after_id=after_id, keys=(*CURVE_KEYS, *SYSTEM_KEYS))


@dataclass
class RunsView:
    """Several experiments side by side: their validation curves (the trials of one cell as
    mean, min and max), and the config fields whose values differ between them."""

    ids: list[int]
    names: dict[int, str]
    series: dict[str, list[tuple[int, float]]]
    metric: str
    differences: list[tuple[str, list[str]]]


def load_runs(registry: Registry, ids: list[int]) -> RunsView:
    """What the runs view of ``ids`` shows (see :class:`RunsView`)."""
    rows = [registry.get(i) for i in ids]
    curves = {r.id: _validation_curve(registry, r.id) for r in rows}
    metric = next((key for r in rows for key, _ in curves[r.id]),
                  SELECTION_KEYS["single-label"])
    cells: dict[str, list[Experiment]] = {}
    for row in rows:
        cells.setdefault(cell_key(row.config), []).append(row)
    series: dict[str, list[tuple[int, float]]] = {}
    for members in cells.values():
        by_epoch: dict[int, list[float]] = {}
        for member in members:
            for key, (epoch, value) in curves[member.id]:
                if key == metric:
                    by_epoch.setdefault(epoch, []).append(value)
        epochs = sorted(by_epoch)
        if len(members) == 1:
            series[f"{members[0].id} {members[0].name}"] = [(e, by_epoch[e][0]) for e in epochs]
            continue
        label = f"{members[0].name} ×{len(members)}"
        series[f"{label} mean"] = [(e, sum(by_epoch[e]) / len(by_epoch[e])) for e in epochs]
        series[f"{label} min"] = [(e, min(by_epoch[e])) for e in epochs]
        series[f"{label} max"] = [(e, max(by_epoch[e])) for e in epochs]
    flat = [_flatten(r.config) for r in rows]
    keys = sorted({k for f in flat for k in f})
    differences = [(k, [_shown(f.get(k)) for f in flat]) for k in keys
                   if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    return RunsView([r.id for r in rows], {r.id: r.name for r in rows}, series, metric,
                    differences)


def _validation_curve(registry: Registry, experiment_id: int
                      ) -> list[tuple[str, tuple[int, float]]]:
    keys = list(SELECTION_KEYS.values())
    return [(p.key, (p.epoch, p.value)) for p in registry.points(experiment_id, keys=keys)
            if p.split == "val"]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config as dotted keys (``train.lr``), for comparing runs field by field."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else key))
    return flat


def _shown(value: Any) -> str:
    return "—" if value is None else value if isinstance(value, str) else json.dumps(value)
