"""Exporting experiments from the registry: as tables (CSV, JSON) and into the trackers users
already look at (MLflow, TensorBoard). Each format reads the same :class:`RunExport` records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.run_folder import RunFolder

if TYPE_CHECKING:
    from avc_tui.registry import Registry
    from avc_tui.registry.models import Experiment, MetricPoint

FORMATS = ("csv", "json", "mlflow", "tensorboard")
# The run-folder files a tracker receives as artifacts; the checkpoints only when asked (a VGG16
# flatten head's is over 400 MB).
SMALL_FILES = ("config", "metrics", "result", "log")


@dataclass(frozen=True)
class RunExport:
    """One experiment as the exporters see it: its row, its metric history in recording order
    and the files of its run folder that exist."""

    experiment: Experiment
    points: list[MetricPoint]
    files: list[tuple[str, Path]]


def gather(registry: Registry, ids: list[int] | None) -> list[RunExport]:
    """The experiments ``ids`` (every one when None), each with its points and files; raises
    ``RegistryError`` for an unknown id before anything is read."""
    rows = [registry.get(i) for i in ids] if ids else registry.list()
    rows.sort(key=lambda row: row.id)
    return [RunExport(row, registry.points(row.id), _files(row.run_dir)) for row in rows]


def _files(run_dir: str) -> list[tuple[str, Path]]:
    return [(kind, path) for kind, path in RunFolder(run_dir).artifacts() if path.is_file()]


def metric_name(point: MetricPoint) -> str:
    """``split/key``: ``train/loss``, ``val/top1``, ``test/top5``, ``system/cpu_percent``."""
    return f"{point.split}/{point.key}"


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the epoch of a registry time (naive UTC)."""
    return moment.replace(tzinfo=UTC).timestamp()


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"train.lr": 0.01, …}``: numbers, booleans and text stay as they are,
    None becomes ``"none"`` and lists their JSON text (trackers take scalars only)."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif value is None:
            flat[name] = "none"
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value)
    return flat


def final_metrics(run: RunExport) -> dict[str, float]:
    """The test metrics of a finished run (``test/top1``, ``test/loss``, ``test/gap``, …), from
    its result; empty for a run without one."""
    test = (run.experiment.result or {}).get("test") or {}
    values = {**{k: v for k, v in test.items() if k != "extra"}, **(test.get("extra") or {})}
    return {f"test/{key}": float(value) for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def final_step(run: RunExport) -> int:
    """The step the test metrics are recorded at: the last training step."""
    return max((p.step for p in run.points if p.split in ("train", "val")), default=0)


def describe(runs: list[RunExport]) -> str:
    points = sum(len(run.points) for run in runs)
    return (f"{len(runs)} experiment{'s' if len(runs) != 1 else ''} and {points} metric "
            f"point{'s' if points != 1 else ''}")
