"""`avc ls`, `avc show`, `avc compare` and `avc export`: reading the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from avc_tui import control
from avc_tui.cli.options import AsJson, Db, ExperimentId
from avc_tui.cli.render import (
    print_comparison,
    print_confusion,
    print_ranking,
    print_result,
    status_cell,
)
from avc_tui.console import console
from avc_tui.formatting import fmt_pct, fmt_short_time, fmt_time
from avc_tui.registry import STATUSES, Registry
from avc_tui.runner.system import LABELS, SYSTEM_KEYS, summarize
from core.errors import ConfigError

if TYPE_CHECKING:
    from avc_tui.registry.models import Attempt


def _one_of(value: str | None, choices, what: str, option: str) -> None:
    """Raise ``ConfigError`` when ``value`` (if given) is not one of ``choices``; ``option`` is
    the command-line option it came from."""
    if value is not None and value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}",
                          hint=f"for example {option} {list(choices)[0]}")


def _precision(row) -> str:
    """What the run's precisions resolved to (from its result), and what its config asked for."""
    used = (row.result or {}).get("precision") or {}
    asked = (row.config.get("features", {}).get("precision", "fp32"),
             row.config.get("train", {}).get("precision", "fp32"))
    if not used:
        return f"features {asked[0]}, training {asked[1]}"
    said = f"features {used.get('features')}, training {used.get('training')}"
    return said + (f" (asked: {asked[0]}, {asked[1]})" if "auto" in asked else "")


def _streamed(row) -> str:
    """", streamed" for a run that read its records as a stream (from its result)."""
    return ", streamed" if (row.result or {}).get("loading") == "stream" else ""


def _device(row) -> str:
    """The run's device, and its data-parallel processes when there were several."""
    processes = row.config.get("train", {}).get("processes", 1)
    device = row.device or "—"
    return f"{device}, {processes} data-parallel processes" if processes > 1 else device


def list_experiments(
    status: Annotated[Optional[str], typer.Option(help=f"One of: {', '.join(STATUSES)}.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset (folder) name.")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b")] = None,
    head: Annotated[Optional[str], typer.Option("--head", "-h")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only experiments with this tag.")] = None,
    group: Annotated[Optional[int], typer.Option(help="Only the experiments of this group.")
                     ] = None,
    groups: Annotated[bool, typer.Option("--groups", help="List the groups (one per `avc "
                                         "grid`) instead, with their progress.")] = False,
    sort: Annotated[str, typer.Option(help="Sort by a column: id, name, status, test_top1, "
                                      "created_at, …")] = "id",
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="At most this many: the last ones in "
                                                 "the sort order (default 50 in the table, all "
                                                 "with --json; 0 for all).")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """List the experiments of the registry (or, with --groups, its groups)."""
    _one_of(status, STATUSES, "status", "--status")
    if groups:
        _list_groups(db, as_json)
        return
    filters = dict(status=status, dataset=dataset, backbone=backbone, head=head, tag=tag,
                   group=group)
    if limit is None:
        limit = 0 if as_json else 50
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        if group is not None:
            registry.group(group)  # an unknown group is an error, not an empty list
        # The last `limit` rows in the sort order: fetched in reverse, shown in order.
        rows = registry.list(**filters, sort=sort, descending=not desc, limit=limit,
                             light=True)[::-1]
        total = registry.count(**filters) if limit and len(rows) == limit else len(rows)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2, default=str))
        return
    custom = any(r.name != f"{r.backbone}/{r.head}" for r in rows)
    table = Table(title=f"{total} experiments", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1))
    widths = {"id": 3, "status": 9, "backbone": 8, "head": 18, "epoch": 5, "top-1": 5,
              "dataset": 6, "created": 11}
    for column, width in widths.items():
        table.add_column(column, justify="right" if column in ("id", "top-1") else "left",
                         min_width=width, no_wrap=True,
                         overflow="ellipsis" if column == "dataset" else "fold")
    if custom:
        table.add_column("name", overflow="fold")
    for r in rows:
        epochs = f"{r.epoch}/{r.epochs}" if r.epochs else str(r.epoch)
        cells = [str(r.id), status_cell(r.status), r.backbone, r.head, epochs,
                 fmt_pct(r.test_top1), r.dataset, fmt_short_time(r.created_at)]
        if custom:
            cells.append("" if r.name == f"{r.backbone}/{r.head}" else r.name)
        table.add_row(*cells)
    console.print(table)
    if total > len(rows):
        console.print(f"[dim]showing the last {len(rows)} of {total}; --limit 0 shows all[/]")


def _list_groups(db: str | None, as_json: bool) -> None:
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        groups = registry.groups()
    rows = [{"id": g.id, "name": g.name, "created_at": g.created_at,
             "axes": {k: len(v) for k, v in g.axes.items()}, **control.group_summary(counts)}
            for g, counts in groups if counts]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"{len(rows)} groups", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1))
    for column in ("id", "status", "done", "created", "name"):
        table.add_column(column, justify="right" if column in ("id", "done") else "left")
    for r in rows:
        table.add_row(str(r["id"]), status_cell(r["status"]), f"{r['done']}/{r['total']}",
                      fmt_short_time(r["created_at"]), r["name"])
    console.print(table)


def attempt_record(attempt: Attempt) -> dict[str, object]:
    """An attempt as `avc show --json` prints it."""
    return {"number": attempt.number, "executor": attempt.executor, "host": attempt.host,
            "node_id": attempt.node_id, "gpus": attempt.gpus,
            "started_at": attempt.started_at, "ended_at": attempt.ended_at,
            "status": attempt.status, "reason": attempt.reason}


def show(experiment_id: ExperimentId, db: Db = None, as_json: AsJson = False) -> None:
    """Show one experiment: config, status, timings, metrics, confusion matrix, artifacts.

    A failed experiment shows its error (the traceback for an unexpected one).
    """
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        row = registry.get(experiment_id)
        artifacts = registry.artifacts(experiment_id)
        predictions = registry.predictions(experiment_id)
        attempts = registry.attempts(experiment_id)
        system = summarize(registry.points(experiment_id, keys=SYSTEM_KEYS))
    if as_json:
        body = {**row.as_dict(), "config": row.config, "result": row.result,
                "artifacts": [{"kind": a.kind, "path": a.path, "size": a.size,
                               "sha256": a.sha256} for a in artifacts],
                "attempts": [attempt_record(a) for a in attempts], "system": system,
                "predictions": len(predictions)}
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    console.print(f"[bold]{row.id} {row.name}[/]  {status_cell(row.status)}", highlight=False)
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    duration = (row.finished_at - row.started_at).total_seconds() \
        if row.finished_at and row.started_at else None
    for key, value in (
        ("dataset", f"{row.dataset} (split {row.split}{_streamed(row)})"),
        ("backbone", row.backbone),
        ("head", row.head), ("preset", f"{row.preset}, seed {row.seed}"),
        ("epoch", f"{row.epoch}/{row.epochs or '?'}"), ("device", _device(row)),
        ("precision", _precision(row)),
        ("host / pid", f"{row.host or '—'} / {row.pid or '—'}"),
        ("attempt", f"{row.attempt or '—'}"
                    + (f" (Ray node {row.node_id[:12]})" if row.node_id else "")),
        ("created", fmt_time(row.created_at)), ("started", fmt_time(row.started_at)),
        ("finished", fmt_time(row.finished_at)),
        ("duration", f"{duration:.1f} s" if duration is not None else "—"),
        ("heartbeat", fmt_time(row.heartbeat_at)), ("run folder", row.run_dir),
        ("config hash", row.config_hash), ("git", row.git_revision or "—"),
        ("versions", ", ".join(f"{k} {v}" for k, v in (row.versions or {}).items()) or "—"),
        ("tags", ", ".join(row.tags or []) or "—"),
        ("predictions", str(len(predictions))),
    ):
        info.add_row(key, value)
    console.print(info)
    if row.result:
        print_result(row)
        print_confusion(row.result)
    if system:
        table = Table(title="System", title_justify="left", box=None)
        for column in ("", "peak", "mean"):
            table.add_column(column, justify="right" if column else "left")
        for key, figures in system.items():
            table.add_row(LABELS[key], f"{figures['peak']:,.0f}", f"{figures['mean']:,.0f}")
        console.print(table)
    if len(attempts) > 1 or any(a.executor != "local" for a in attempts):
        table = Table("#", "executor", "host", "node", "GPUs", "started", "ended", "status",
                      "reason", title="Attempts", title_justify="left")
        for a in attempts:
            table.add_row(str(a.number), a.executor, a.host or "—", (a.node_id or "—")[:12],
                          a.gpus or "—", fmt_time(a.started_at), fmt_time(a.ended_at),
                          a.status or "running", escape(a.reason or ""))
        console.print(table)
    if artifacts:
        table = Table("kind", "path", "size", "sha256", title="Artifacts", title_justify="left")
        for a in artifacts:
            table.add_row(a.kind, a.path, f"{a.size:,}", a.sha256[:12])
        console.print(table)
    if row.error:
        console.print(f"[red]error:[/] {escape(row.error.strip())}", highlight=False)
    console.print(f"config: {json.dumps(row.config)}", highlight=False, soft_wrap=True)


def compare(
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset.")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only experiments with this tag.")] = None,
    paper: Annotated[Optional[str], typer.Option(help="Show the ABDN paper's numbers beside: "
                                                 "ucf101 or sports1m.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, markdown, latex or "
                                     "json.")] = "table",
    metric: Annotated[str, typer.Option(help="top1 or top5 test accuracy.")] = "top1",
    agg: Annotated[Optional[str], typer.Option(
        help="mean (± sd over the trials of a cell: runs that differ only in seed, split seed "
             "or fold), best or last run per cell; default mean once a cell has several "
             "trials, else best.")] = None,
    group: Annotated[Optional[int], typer.Option(help="Only the experiments of this group "
                                                 "(see `avc ls --groups`).")] = None,
    by: Annotated[Optional[str], typer.Option(
        help="With --group: rank the values of these comma-separated axes (e.g. hidden, or "
             "lr,hidden; 'all' for every swept axis), best first, each averaged over its trials "
             "and the other axes.")] = None,
    db: Db = None,
) -> None:
    """The backbone × attention-mode table of test accuracy (%), one number per cell; with
    --group and --by, a group's axis values ranked."""
    from avc_tui.compare import AGGREGATIONS, FORMATS, METRICS, PAPER

    _one_of(metric, METRICS, "metric", "--metric")
    _one_of(fmt, FORMATS, "format", "--format")
    _one_of(agg, AGGREGATIONS, "aggregation", "--agg")
    if paper is not None and paper not in PAPER:
        raise ConfigError(f"no paper numbers for {paper!r}; choose one of: {', '.join(PAPER)}",
                          hint="for example --paper ucf101, or leave it out")
    if by is not None and group is None:
        raise ConfigError("--by ranks the axes of one group", hint="add --group G (see "
                                                                   "`avc ls --groups`)")
    with Registry(db, create=False) as registry:
        if group is not None:
            registry.group(group)
        records = registry.results(dataset=dataset, tag=tag, group=group)
    if by is not None:
        print_ranking(records, by, fmt, metric, group)
        return
    print_comparison(records, paper, fmt, metric, agg)


def export(
    out: Annotated[Optional[Path], typer.Argument(
        help="Where: a folder for csv (experiments.csv, metrics.csv) and tensorboard (a folder "
             "per experiment), a file for json; not used by mlflow (see --tracking-uri).",
        show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, json, mlflow or tensorboard.")
                   ] = "csv",
    experiment_id: Annotated[Optional[list[int]], typer.Option("--id", help="Only these "
                                                               "experiments (repeatable).")
                             ] = None,
    tracking_uri: Annotated[Optional[str], typer.Option(
        envvar="MLFLOW_TRACKING_URI", help="mlflow: the tracking store, e.g. sqlite:///mlflow.db "
                                           "or http://HOST:5000.")] = None,
    mlflow_experiment: Annotated[str, typer.Option(help="mlflow: the MLflow experiment to "
                                                   "export into (created when missing).")
                                 ] = "avc",
    checkpoints: Annotated[bool, typer.Option("--checkpoints", help="mlflow: also upload "
                                              "checkpoint.pt and best.pt as artifacts.")
                           ] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Export experiments with their metric histories: as CSV or JSON, into an MLflow tracking
    store, or as TensorBoard event files. Exporting again replaces what an earlier export of the
    same experiments wrote to MLflow or TensorBoard."""
    from avc_tui import export as exporting

    _one_of(fmt, exporting.FORMATS, "export format", "--format")
    if fmt == "mlflow" and not tracking_uri:
        raise ConfigError("--format mlflow needs a tracking store",
                          hint="pass --tracking-uri sqlite:///mlflow.db (a local store) or "
                               "http://HOST:5000, or set MLFLOW_TRACKING_URI")
    if fmt != "mlflow" and out is None:
        raise ConfigError(f"--format {fmt} writes to OUT, which is missing",
                          hint="for example: avc export results/ (csv), avc export runs.json "
                               "--format json, avc export tb/ --format tensorboard")
    if fmt == "mlflow":
        from avc_tui.export import to_mlflow as writer
    elif fmt == "tensorboard":
        from avc_tui.export import to_tensorboard as writer
    if fmt in ("mlflow", "tensorboard"):
        writer.require()  # a missing extra ends here, before the registry is read
    with Registry(db, create=False) as registry:
        runs = exporting.gather(registry, experiment_id)
        where = registry.location
    what = exporting.describe(runs)
    if fmt == "mlflow":
        done = writer.export(runs, tracking_uri, mlflow_experiment, registry=where,
                             checkpoints=checkpoints)
        replaced = f" (replacing {done.replaced} earlier runs)" if done.replaced else ""
        report = {"format": fmt, "tracking_uri": tracking_uri, "experiment": mlflow_experiment,
                  "experiment_id": done.experiment_id,
                  "runs": {str(k): v for k, v in done.runs.items()}}
        message = (f"exported {what} to MLflow experiment {mlflow_experiment!r} "
                   f"({done.experiment_id}) at {tracking_uri}{replaced}")
    elif fmt == "tensorboard":
        folders = writer.export(runs, out)
        report = {"format": fmt, "out": str(out),
                  "runs": {str(k): str(v) for k, v in folders.items()}}
        message = f"wrote {what} as TensorBoard event files under {out}\nview them with: " \
                  f"tensorboard --logdir {out}"
    else:
        from avc_tui.export import tables

        paths = (tables.write_csv if fmt == "csv" else tables.write_json)(runs, out)
        report = {"format": fmt, "files": [str(p) for p in paths]}
        message = f"wrote {what} to {' and '.join(str(p) for p in paths)}"
    report["experiments"] = [run.experiment.id for run in runs]
    if fmt == "mlflow":
        report["replaced"] = done.replaced
    if as_json:
        print(json.dumps(report))
    else:
        console.print(message, highlight=False)
