"""Rich renderings of registry rows that several commands print: a status cell, a finished
run's result with its per-class table, the confusion matrix, the comparison table."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from avc_tui.console import console
from avc_tui.formatting import STATUS_STYLE, fmt_pct
from avc_tui.metrics_text import headline, per_class
from avc_tui.registry.models import Experiment
from core.errors import AvcError


def status_cell(status: str) -> str:
    """The status, padded and in its colour (Rich markup)."""
    return f"[{STATUS_STYLE.get(status, '')}]{status:<9}[/]"


def print_result(row: Experiment) -> None:
    """The headline of a finished run, its per-class table and where its files are."""
    result = row.result or {}
    test = result.get("test") or {}
    seconds = result.get("seconds", {}).get("total", 0.0)
    console.print(
        f"[bold]{row.id} {row.name}[/]: test {headline(test)} "
        f"(epoch {result.get('selected_epoch')}/{result.get('epochs_run')}, "
        f"T={result.get('frames')}, {result.get('parameters', 0):,} parameters, "
        f"{seconds:.1f} s)", highlight=False)
    column, rows, left_out = per_class(result.get("classes", []), test)
    table = Table("class", column, title=f"Per-class test {column}", title_justify="left",
                  caption=f"and {left_out} more classes" if left_out else None)
    for name, value in rows:
        table.add_row(name, fmt_pct(value))
    console.print(table)
    for warning in result.get("warnings", []):
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if result.get("unreadable"):
        console.print(f"[yellow]{len(result['unreadable'])} unreadable videos were left out[/]")
    console.print(f"run folder: {row.run_dir}", highlight=False)


def print_confusion(result: dict[str, Any]) -> None:
    """The test confusion matrix of a single-label run (nothing for a multi-label one)."""
    test = result.get("test") or {}
    confusion, classes = test.get("confusion"), result.get("classes", [])
    if not confusion:
        return
    table = Table("true \\ predicted", *[c[:10] for c in classes], title="Confusion matrix (test)",
                  title_justify="left")
    for name, counts in zip(classes, confusion):
        table.add_row(name, *[str(c) if c else "·" for c in counts])
    console.print(table)


def print_comparison(records: list[dict], paper: str | None, fmt: str,
                     metric: str = "top1", agg: str | None = None) -> None:
    """The backbone × head table of ``records`` (registry results), in ``fmt``: a Rich table
    with the best cell in bold, or csv/markdown/latex/json text on stdout. Cells that average
    several trials read "mean ± sd (n)"."""
    from avc_tui.compare import (
        comparison,
        default_aggregation,
        render,
        runs_frame,
        shown_cells,
        value_columns,
    )

    agg = agg or default_aggregation(runs_frame(records))
    table = comparison(records, paper=paper, metric=metric, agg=agg)
    if fmt != "table":
        typer.echo(render(table, fmt))
        return
    if table.empty:
        console.print("no finished experiments to compare")
        return
    ours = value_columns(table)
    best = table[ours].max().max()
    columns, rows = shown_cells(table)
    what = {"mean": "mean ± sd (n) over the trials of a cell", "best": "best run per cell",
            "last": "latest run per cell"}[agg]
    out = Table(title=f"Test {metric} accuracy (%), {what}", title_justify="left",
                caption="* the paper's value lies outside our mean ± 2 standard errors"
                if any(t.endswith("*") for _, texts in rows for t in texts) else None)
    out.add_column("CNN", style="bold")
    for column in columns:
        out.add_column(column, justify="right", style=None if column in ours else "dim")
    for (name, texts), (_, values) in zip(rows, table.iterrows()):
        cells, position = [], 0
        for column in columns:
            text = texts[position]
            if column in ours and values[column] == best:
                text = f"[bold green]{text}[/]"
            cells.append(text)
            position += 1
        out.add_row(name, *cells)
    console.print(out)


def print_ranking(records: list[dict], by: str, fmt: str, metric: str, group: int) -> None:
    """The values of a group's axes ``by`` ("hidden", "lr,hidden" or "all"), best first, with
    mean ± sd (n) of test ``metric``; csv/markdown/json text for other formats."""
    from avc_tui.compare import ranking, sweep_axes

    axes = sweep_axes(records) if by == "all" else [a.strip() for a in by.split(",") if a.strip()]
    if not records:
        raise AvcError(f"group {group} has no finished experiment yet",
                       hint=f"`avc ls --group {group}` shows where it is")
    if not axes:
        raise AvcError(f"group {group} sweeps no axis besides its trials",
                       hint="compare it without --by")
    try:
        table = ranking(records, axes, metric=metric)
    except ValueError as error:
        raise AvcError(str(error), hint="pass one of those to --by, or --by all") from None
    if fmt == "json":
        typer.echo(table.to_json(orient="records", indent=2))
        return
    texts = [[str(row[a]) for a in axes]
             + [f"{row['mean']:.1f}" + (f" ± {row['sd']:.1f}" if row["n"] > 1 else ""),
                str(int(row["n"]))] for row in table.to_dict("records")]
    header = [*axes, f"test {metric} (%)", "runs"]
    if fmt in ("csv", "markdown", "latex"):
        if fmt == "csv":
            typer.echo(table.to_csv(index=False, float_format="%.2f").rstrip("\n"))
        else:
            lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
            lines += ["| " + " | ".join(t) + " |" for t in texts]
            typer.echo("\n".join(lines))
        return
    out = Table(title=f"Group {group} by {', '.join(axes)}: test {metric} accuracy (%), "
                      f"mean ± sd over trials and the other axes, best first",
                title_justify="left")
    for column in header:
        out.add_column(column, justify="left" if column in axes else "right")
    for number, cells in enumerate(texts):
        out.add_row(*([f"[bold green]{c}[/]" for c in cells] if number == 0 else cells))
    console.print(out)
