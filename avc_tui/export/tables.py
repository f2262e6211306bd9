"""Experiments and their metric histories as CSV (a folder) or JSON (a file)."""

from __future__ import annotations

import json
from pathlib import Path

from avc_tui.export import RunExport

POINT_COLUMNS = ["experiment_id", "step", "epoch", "split", "key", "value", "time"]


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) with a
    leading apostrophe, so that it is shown as the text it is (OWASP's CSV injection advice)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _frames(runs: list[RunExport]):
    import pandas as pd

    experiments = pd.DataFrame.from_records([run.experiment.as_dict() for run in runs])
    points = pd.DataFrame.from_records(
        [{"experiment_id": p.experiment_id, "step": p.step, "epoch": p.epoch, "split": p.split,
          "key": p.key, "value": p.value, "time": p.time} for run in runs for p in run.points],
        columns=POINT_COLUMNS)
    return experiments, points


def write_csv(runs: list[RunExport], out: Path) -> list[Path]:
    """``out/experiments.csv`` and ``out/metrics.csv``; returns their paths."""
    experiments, points = _frames(runs)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "experiments.csv", out / "metrics.csv"]
    experiments.map(spreadsheet_safe).to_csv(written[0], index=False)
    points.to_csv(written[1], index=False)
    return written


def write_json(runs: list[RunExport], out: Path) -> list[Path]:
    """One JSON document ``{"experiments": [...], "metrics": [...]}`` at ``out``."""
    experiments, points = _frames(runs)
    body = {"experiments": json.loads(experiments.to_json(orient="records", date_format="iso")),
            "metrics": json.loads(points.to_json(orient="records", date_format="iso"))}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=2))
    return [out]
