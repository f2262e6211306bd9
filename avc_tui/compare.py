"""The comparison table: backbone × attention mode, the best finished run per cell, optionally
beside the numbers the ABDN paper reported (``SEEDS.md`` §1.10), with end-to-end models (the
paper's 3D CNN baseline) as rows of their own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd


# ABDN's table: average accuracy on UCF-101 and on Sports-1M-99, random 70/30 splits, last epoch.
PAPER = {
    "ucf101": {
        "vgg16": (0.91, 0.945, 0.824), "vgg19": (0.916, 0.958, 0.838),
        "inceptionv3": (0.77, 0.822, 0.82), "resnet50": (0.255, 0.463, 0.513),
        "xception": (0.256, 0.57, 0.487),
    },
    "sports1m": {
        "vgg16": (0.914, 0.942, 0.774), "vgg19": (0.92, 0.961, 0.736),
        "inceptionv3": (0.816, 0.84, 0.909), "resnet50": (0.283, 0.66, 0.573),
        "xception": (0.239, 0.61, 0.584),
    },
}
PAPER_MODES = ("cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm")
# End-to-end models (no frozen backbone: they read the frames, the "pixels" backbone) are rows of
# their own, their number in the END_TO_END column; ABDN's baseline row is Ji et al.'s 3D CNN.
END_TO_END = {"3d-cnn": "3D CNN [Ji 2013]"}
END_TO_END_COLUMN = "end to end"
PAPER_BASELINE = {"ucf101": {"3d-cnn": 0.53}, "sports1m": {"3d-cnn": 0.604}}
# The paper's row labels, in its order. Kept here with its numbers so that reading the registry
# never needs the model code (and its PyTorch import): `avc compare` answers in well under 1 s.
PAPER_ROWS = {"vgg16": "VGG16", "vgg19": "VGG19", "inceptionv3": "InceptionV3",
              "resnet50": "ResNet50", "xception": "Xception"}
FORMATS = ("table", "csv", "markdown", "latex", "json")
METRICS = ("top1", "top5")


COLUMNS = ["id", "name", "dataset", "backbone", "head", "preset", "seed", "top1", "top5"]


def runs_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished experiment (``Registry.results()`` records)."""
    return pd.DataFrame.from_records(list(records), columns=COLUMNS)


def best_per_cell(frame: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """The best run (highest ``metric``, then the earliest) of every backbone × head cell."""
    frame = frame.dropna(subset=[metric])
    if frame.empty:
        return frame
    ordered = frame.sort_values([metric, "id"], ascending=[False, True])
    return ordered.drop_duplicates(["backbone", "head"]).sort_values("id")


def comparison(records: Sequence[dict[str, Any]], *, paper: str | None = None,
               metric: str = "top1") -> pd.DataFrame:
    """Backbone (rows, the paper's order first) × head (columns) of the best test top-1 in
    percent.

    ``paper`` (``ucf101`` or ``sports1m``) adds a "<mode> (paper)" column beside each ABDN mode.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    best = best_per_cell(runs_frame(records), metric)
    end_to_end = best[best["head"].isin(list(END_TO_END))] if not best.empty else best
    best = best[~best["head"].isin(list(END_TO_END))] if not best.empty else best
    present_backbones = set(best["backbone"]) if not best.empty else set()
    present_heads = set(best["head"]) if not best.empty else set()
    backbones = [b for b in PAPER_ROWS if b in present_backbones or paper is not None]
    backbones += sorted(present_backbones - set(backbones))
    heads = [h for h in PAPER_MODES if h in present_heads or paper is not None]
    heads += sorted(present_heads - set(heads))
    table = pd.DataFrame(index=[PAPER_ROWS.get(b, b) for b in backbones], dtype=float)
    table.index.name = "CNN"
    cells = ({(r.backbone, r.head): 100 * getattr(r, metric) for r in best.itertuples()}
             if not best.empty else {})
    for head in heads:
        table[head] = [cells.get((b, head)) for b in backbones]
        if paper is not None and head in PAPER_MODES:
            index = PAPER_MODES.index(head)
            table[f"{head} (paper)"] = [100 * PAPER[paper][b][index] if b in PAPER[paper]
                                        else None for b in backbones]
    models = [m for m in END_TO_END if (not end_to_end.empty and m in set(end_to_end["head"]))
              or (paper is not None and m in PAPER_BASELINE[paper])]
    if models:
        values = ({r.head: 100 * getattr(r, metric) for r in end_to_end.itertuples()}
                  if not end_to_end.empty else {})
        rows = pd.DataFrame(index=[END_TO_END[m] for m in models], dtype=float)
        rows[END_TO_END_COLUMN] = [values.get(m) for m in models]
        if paper is not None:
            rows[f"{END_TO_END_COLUMN} (paper)"] = [
                100 * PAPER_BASELINE[paper][m] if m in PAPER_BASELINE[paper] else None
                for m in models]
        table = pd.concat([table, rows])
        table.index.name = "CNN"
    return table.astype(float)


def render(table: pd.DataFrame, fmt: str) -> str:
    """``table`` as csv, markdown, latex or json text (``table`` is drawn by the CLI)."""
    if fmt == "csv":
        return table.to_csv(float_format="%.1f").rstrip("\n")
    if fmt == "markdown":
        header = "| CNN | " + " | ".join(table.columns) + " |"
        lines = [header, "|---" * (len(table.columns) + 1) + "|"]
        for name, row in table.iterrows():
            lines.append(f"| {name} | " + " | ".join(_cell(v) for v in row) + " |")
        return "\n".join(lines)
    if fmt == "latex":
        return table.to_latex(float_format="%.1f", na_rep="--").rstrip("\n")
    if fmt == "json":
        return json.dumps({name: {c: (None if pd.isna(v) else round(float(v), 2))
                                  for c, v in row.items()}
                           for name, row in table.iterrows()}, indent=2)
    raise ValueError(f"unknown format {fmt!r}")


def _cell(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1f}"
