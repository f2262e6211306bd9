"""The comparison table: backbone × attention mode, the best finished run per cell, optionally
beside the numbers the ABDN paper reported (``SEEDS.md`` §1.10), with end-to-end models (the
paper's 3D CNN baseline) as rows of their own."""

from __future__ import annotations

import json
import math
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


COLUMNS = ["id", "name", "dataset", "backbone", "head", "preset", "seed", "cell", "top1", "top5"]
AGGREGATIONS = ("mean", "best", "last")
# Companion columns beside a head's column: the spread and count of its trials, the paper's value.
SD, COUNT, PAPER_SUFFIX = " (sd)", " (n)", " (paper)"


def runs_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished experiment (``Registry.results()`` records)."""
    frame = pd.DataFrame.from_records(list(records), columns=COLUMNS)
    # Records without a cell key (made by hand) are cells of their own.
    missing = frame["cell"].isna()
    frame.loc[missing, "cell"] = "run-" + frame.loc[missing, "id"].astype(str)
    return frame


def best_per_cell(frame: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """The best run (highest ``metric``, then the earliest) of every backbone × head cell."""
    frame = frame.dropna(subset=[metric])
    if frame.empty:
        return frame
    ordered = frame.sort_values([metric, "id"], ascending=[False, True])
    return ordered.drop_duplicates(["backbone", "head"]).sort_values("id")


def default_aggregation(frame: pd.DataFrame) -> str:
    """``mean`` once some cell has several trials (runs that differ only in seed, split seed or
    fold), else ``best``."""
    if frame.empty:
        return "best"
    return "mean" if frame.groupby(["backbone", "head", "cell"]).size().max() > 1 else "best"


def cell_values(frame: pd.DataFrame, metric: str = "top1", agg: str = "mean") -> pd.DataFrame:
    """One row per backbone × head: ``value`` (in [0, 1]), ``sd`` and ``n``.

    ``best``: the best run; ``last``: the latest run; ``mean``: the mean over the trials of a
    cell with their sample standard deviation, and of several cells (runs that differ in more
    than their seeds, e.g. learning rate) the one with the best mean.
    """
    frame = frame.dropna(subset=[metric])
    columns = ["backbone", "head", "value", "sd", "n"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if agg == "best":
        picked = best_per_cell(frame, metric)
    elif agg == "last":
        picked = frame.sort_values("id").drop_duplicates(["backbone", "head"], keep="last")
    else:
        cells = (frame.groupby(["backbone", "head", "cell"], sort=False)
                 .agg(value=(metric, "mean"), sd=(metric, "std"), n=(metric, "size"),
                      first=("id", "min")).reset_index())
        cells = cells.sort_values(["value", "n", "first"], ascending=[False, False, True])
        return cells.drop_duplicates(["backbone", "head"])[columns]
    return picked.assign(value=picked[metric], sd=float("nan"), n=1)[columns]


def comparison(records: Sequence[dict[str, Any]], *, paper: str | None = None,
               metric: str = "top1", agg: str | None = None) -> pd.DataFrame:
    """Backbone (rows, the paper's order first) × head (columns) of test ``metric`` in percent,
    aggregated per cell by ``agg`` (see :func:`cell_values`; default
    :func:`default_aggregation`).

    When some cell averages several trials, each head's column is followed by "<head> (sd)" and
    "<head> (n)". ``paper`` (``ucf101`` or ``sports1m``) adds "<head> (paper)" beside each ABDN
    mode.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    frame = runs_frame(records)
    agg = agg or default_aggregation(frame)
    if agg not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {agg!r}")
    values = cell_values(frame, metric, agg)
    spread = bool((values["n"] > 1).any()) if not values.empty else False
    ends = values["head"].isin(list(END_TO_END))
    end_to_end, best = values[ends], values[~ends]
    present_backbones, present_heads = set(best["backbone"]), set(best["head"])
    backbones = [b for b in PAPER_ROWS if b in present_backbones or paper is not None]
    backbones += sorted(present_backbones - set(backbones))
    heads = [h for h in PAPER_MODES if h in present_heads or paper is not None]
    heads += sorted(present_heads - set(heads))
    table = pd.DataFrame(index=[PAPER_ROWS.get(b, b) for b in backbones], dtype=float)
    table.index.name = "CNN"
    cells = {(r.backbone, r.head): r for r in best.itertuples()}

    def fill(target: pd.DataFrame, column: str, keys: list[tuple[str, str]]) -> None:
        found = [cells.get(key) for key in keys]
        target[column] = [100 * c.value if c is not None else None for c in found]
        if spread:
            target[column + SD] = [100 * c.sd if c is not None else None for c in found]
            target[column + COUNT] = [c.n if c is not None else None for c in found]

    for head in heads:
        fill(table, head, [(b, head) for b in backbones])
        if paper is not None and head in PAPER_MODES:
            index = PAPER_MODES.index(head)
            table[head + PAPER_SUFFIX] = [100 * PAPER[paper][b][index] if b in PAPER[paper]
                                          else None for b in backbones]
    models = [m for m in END_TO_END if m in set(end_to_end["head"])
              or (paper is not None and m in PAPER_BASELINE[paper])]
    if models:
        cells.update({(r.backbone, r.head): r for r in end_to_end.itertuples()})
        owners = {r.head: r.backbone for r in end_to_end.itertuples()}
        rows = pd.DataFrame(index=[END_TO_END[m] for m in models], dtype=float)
        fill(rows, END_TO_END_COLUMN, [(owners.get(m, ""), m) for m in models])
        if paper is not None:
            rows[END_TO_END_COLUMN + PAPER_SUFFIX] = [
                100 * PAPER_BASELINE[paper][m] if m in PAPER_BASELINE[paper] else None
                for m in models]
        table = pd.concat([table, rows])
        table.index.name = "CNN"
    return table.astype(float)


TRIAL_AXES = ("seed", "split_seed", "split")


def ranking(records: Sequence[dict[str, Any]], by: Sequence[str], *,
            metric: str = "top1") -> pd.DataFrame:
    """The values of the axes ``by`` of a group's runs (their ``axes`` records), best first: per
    combination the mean, sample sd and number of its runs' test ``metric`` in percent, over
    its trials and every other axis. Raises ``ValueError`` naming an axis the runs lack."""
    rows = [{**(r.get("axes") or {}), "value": 100 * r[metric]} for r in records
            if r.get(metric) is not None]
    frame = pd.DataFrame.from_records(rows)
    missing = [axis for axis in by if axis not in frame.columns]
    if missing or frame.empty:
        known = [c for c in frame.columns if c != "value"]
        raise ValueError(f"no axis {', '.join(missing) or ', '.join(by)} in these runs; they "
                         f"have: {', '.join(known) or 'none'}")
    keys = list(by)
    table = (frame.groupby(keys, sort=False)["value"].agg(["mean", "std", "size"])
             .rename(columns={"std": "sd", "size": "n"}).reset_index())
    return table.sort_values(["mean", "n"], ascending=[False, False]).reset_index(drop=True)


def sweep_axes(records: Sequence[dict[str, Any]]) -> list[str]:
    """The axes of a group's runs that are not trials (and take several values): what
    ``--by all`` ranks."""
    seen: dict[str, set] = {}
    for r in records:
        for axis, value in (r.get("axes") or {}).items():
            seen.setdefault(axis, set()).add(json.dumps(value))
    return [a for a, values in seen.items() if a not in TRIAL_AXES and len(values) > 1]


def value_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` that hold our numbers (not their companions)."""
    return [c for c in table.columns if not c.endswith((SD, COUNT, PAPER_SUFFIX))]


def shown_cells(table: pd.DataFrame) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The table as text, the way people read it: each cell "mean ± sd (n)" when it averages
    several trials; beside an ABDN mode with paper numbers, the paper's value and our
    difference, marked ``*`` when the paper's value lies outside our mean ± 2 standard
    errors. Returns the column names and (row name, cell texts) pairs."""
    columns: list[str] = []
    for column in value_columns(table):
        columns.append(column)
        if column + PAPER_SUFFIX in table.columns:
            columns += [column + PAPER_SUFFIX, f"{column} (Δ)"]
    rows = []
    for name, row in table.iterrows():
        texts = []
        for column in value_columns(table):
            value, sd, n = row[column], row.get(column + SD), row.get(column + COUNT)
            texts.append(_mean_text(value, sd, n))
            if column + PAPER_SUFFIX in table.columns:
                published = row[column + PAPER_SUFFIX]
                texts.append(_cell(published))
                texts.append(_difference(value, sd, n, published))
        rows.append((str(name), texts))
    return columns, rows


def _mean_text(value: float, sd: float | None, n: float | None) -> str:
    if pd.isna(value):
        return "—"
    if n is not None and not pd.isna(n) and n > 1:
        return f"{value:.1f} ± {sd:.1f} ({int(n)})"
    return f"{value:.1f}"


def _difference(value: float, sd: float | None, n: float | None, published: float) -> str:
    if pd.isna(value) or pd.isna(published):
        return "—"
    text = f"{value - published:+.1f}"
    if n is not None and not pd.isna(n) and n > 1 and not pd.isna(sd):
        if abs(published - value) > 2 * sd / math.sqrt(n):
            text += "*"
    return text


def render(table: pd.DataFrame, fmt: str) -> str:
    """``table`` as csv, markdown, latex or json text (``table`` is drawn by the CLI). csv and
    json hold every column as a number; markdown and latex show :func:`shown_cells`."""
    if fmt == "csv":
        return table.to_csv(float_format="%.1f").rstrip("\n")
    if fmt == "markdown":
        columns, rows = shown_cells(table)
        lines = ["| CNN | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(texts) + " |" for name, texts in rows]
        return "\n".join(lines)
    if fmt == "latex":
        return _latex(table)
    if fmt == "json":
        return json.dumps({name: {c: (None if pd.isna(v) else round(float(v), 2))
                                  for c, v in row.items()}
                           for name, row in table.iterrows()}, indent=2)
    raise ValueError(f"unknown format {fmt!r}")


def _latex(table: pd.DataFrame) -> str:
    """A tabular a paper can paste: mean ± sd per cell, the best of each of our columns bold."""
    columns, rows = shown_cells(table)
    best = {c: table[c].max() for c in value_columns(table)}
    lines = ["\\begin{tabular}{l" + "r" * len(columns) + "}", "\\toprule",
             " & ".join(["CNN", *(_latex_escape(c) for c in columns)]) + " \\\\",
             "\\midrule"]
    for (name, texts), (_, row) in zip(rows, table.iterrows()):
        cells, position = [], 0
        for column in value_columns(table):
            text = texts[position].replace("±", "$\\pm$").replace("—", "--")
            if not pd.isna(row[column]) and row[column] == best[column]:
                text = f"\\textbf{{{text}}}"
            cells.append(text)
            position += 1
            if column + PAPER_SUFFIX in table.columns:
                cells += [t.replace("—", "--") for t in texts[position:position + 2]]
                position += 2
        lines.append(" & ".join([_latex_escape(name), *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def _latex_escape(text: str) -> str:
    return (text.replace("\\", "\\textbackslash{}").replace("&", "\\&").replace("%", "\\%")
            .replace("_", "\\_").replace("#", "\\#").replace("Δ", "$\\Delta$"))


def _cell(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1f}"
