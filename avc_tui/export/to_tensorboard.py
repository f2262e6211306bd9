"""Experiments as TensorBoard event files: one folder per experiment (``DIR/<id>-<name>``) with
every metric as a scalar (steps and wall times kept), the test metrics, the config as text and
as hyperparameters (TensorBoard's HPARAMS tab compares the runs by them).

Exporting an experiment again replaces its earlier event files, so that TensorBoard does not
show its history twice."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from avc_tui.export import (
    RunExport,
    epoch_seconds,
    final_metrics,
    final_step,
    flatten,
    metric_name,
)
from core.errors import ConfigError

INSTALL_HINT = "install it with: pip install -e '.[tensorboard]' (or pip install tensorboard)"
EVENT_FILES = "events.out.tfevents.*"
log = logging.getLogger(__name__)


def require() -> tuple[Any, Any]:
    """PyTorch's ``SummaryWriter`` and ``hparams`` (they need the tensorboard package); raises
    ``ConfigError`` saying what to install when it is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError as exc:
        raise ConfigError("--format tensorboard needs TensorBoard, which is not installed",
                          hint=INSTALL_HINT) from exc
    return SummaryWriter, hparams


def run_folder_name(run: RunExport) -> str:
    """``0007-vgg16-cnn-lstm``: the id first, so that TensorBoard lists runs in their order."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", run.experiment.name).strip("-")
    return f"{run.experiment.id:04d}-{slug}"


def export(runs: list[RunExport], out: Path) -> dict[int, Path]:
    """Write each run's event file under ``out``; returns the folder of each experiment."""
    writer_type, hparams = require()
    folders = {}
    for run in runs:
        folder = out / run_folder_name(run)
        for old in folder.glob(EVENT_FILES):
            old.unlink()
        _write(writer_type, hparams, run, folder)
        folders[run.experiment.id] = folder
    return folders


def _write(writer_type, hparams, run: RunExport, folder: Path) -> None:
    row = run.experiment
    writer = writer_type(str(folder))
    try:
        started = epoch_seconds(row.started_at or row.created_at)
        writer.add_text("config", "```json\n" + json.dumps(row.config, indent=2) + "\n```",
                        global_step=0, walltime=started)
        for point in run.points:
            writer.add_scalar(metric_name(point), point.value, global_step=point.step,
                              walltime=epoch_seconds(point.time))
        finished = epoch_seconds(row.finished_at or row.heartbeat_at or row.created_at)
        results = final_metrics(run)
        for key, value in results.items():
            writer.add_scalar(key, value, global_step=final_step(run), walltime=finished)
        values = flatten(row.config)
        values.update({"avc.id": row.id, "avc.status": row.status})
        # The HPARAMS tab's columns: the config, and the test metrics when the run has them.
        for summary in hparams(values, results):
            writer.file_writer.add_summary(summary, walltime=finished)
    finally:
        writer.close()
    log.info("experiment %d → %s (%d points)", row.id, folder, len(run.points))
