"""The registry commands of ``avc``: grid, ls, show, compare, cancel, resume, rm, export.

They attach to the one Typer app of :mod:`avc_tui.cli`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from avc_tui.cli import (
    Annotations,
    CacheDir,
    Db,
    Device,
    HeadOption,
    InputSize,
    Layout,
    Root,
    SamplingOpt,
    Split,
    SplitSeed,
    Weights,
    Workers,
    _config,
    _detach,
    _print_result,
    _run_in_foreground,
    _worker_options,
    app,
    handles_errors,
)
from avc_tui.console import console, fmt_pct
from avc_tui.registry import Registry, RegistryError
from avc_tui.registry.models import STATUSES

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ExperimentId = Annotated[int, typer.Argument(help="Experiment id (see `avc ls`).")]
STATUS_STYLE = {"queued": "dim", "running": "bold cyan", "finished": "green", "failed": "red",
                "cancelled": "yellow", "lost": "magenta"}


def _names(value: str, valid: list[str], what: str) -> list[str]:
    from core.errors import ConfigError

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ConfigError(f"unknown {what} {', '.join(unknown) or repr(value)}; "
                          f"choose from: {', '.join(valid)}")
    return names


@app.command()
@handles_errors
def grid(
    root: Root,
    backbones: Annotated[Optional[str], typer.Option(help="Comma-separated backbones (default: "
                                                     "the ABDN five, or the layout's own "
                                                     "features).")] = None,
    heads: Annotated[Optional[str], typer.Option(help="Comma-separated heads (default: the "
                                                 "three ABDN modes).")] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Jobs at once (default: one per GPU, or "
                                                "one on the CPU).")] = None,
    preset: Annotated[str, typer.Option(help="Training protocol: abdn or modern.")] = "abdn",
    epochs: Annotated[Optional[int], typer.Option(help="Override the preset's epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the batch size.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Override the learning rate.")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    weights: Weights = "imagenet",
    input_size: InputSize = None,
    sampling: SamplingOpt = "fps:1",
    reduction: Annotated[Optional[str], typer.Option(help="flatten (ABDN), avg or none "
                                                     "(default: each head's own).")] = None,
    normalize: Annotated[str, typer.Option(help="none, dataset or video.")] = "none",
    mask: Annotated[Optional[bool], typer.Option(
        "--mask/--no-mask", help="Mask padded frames (default: no, as ABDN; yes for layouts "
                                 "that bring their features, as YouTube-8M's reader).")] = None,
    head_option: HeadOption = None,
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="A tag (repeatable).")] = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    db: Db = None,
) -> None:
    """Run backbones × heads on one dataset (default: the ABDN 5 × 3 grid).

    As many jobs run at once as there are devices (one per GPU, else one on the CPU, or --jobs);
    each backbone's features are extracted once and shared by all its heads.
    """
    from avc_tui.runner.devices import available_devices, plan_slots
    from avc_tui.runner.executor import LocalExecutor
    from avc_tui.runner.scheduler import run_all
    from core.backbones import backbone_names
    from core.data import layout_features
    from core.experiment import open_dataset
    from core.models.registry import head_names

    chosen = _names(backbones or layout_features(layout)
                    or ",".join(backbone_names(abdn_only=True)), backbone_names(), "backbone")
    modes = _names(heads or ",".join(head_names(abdn_only=True)), head_names(), "head")
    configs = [_config(root, layout=layout, split=split, split_seed=split_seed,
                       annotations=annotations, backbone=b, weights=weights,
                       input_size=input_size, sampling=sampling, head=h, reduction=reduction,
                       frames=None, mask=mask, normalize=normalize, preset=preset,
                       epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device="auto",
                       name=None, head_options=head_option)
               for b in chosen for h in modes]
    open_dataset(configs[0])
    slots = plan_slots(available_devices(), jobs)
    with Registry(db) as registry:
        ids = [registry.create(c, tags=[*(tag or ()), "grid"]).id for c in configs]
        console.print(f"registered experiments {ids[0]}–{ids[-1]}; running {len(slots)} at a "
                      f"time on {', '.join(s.name for s in slots)}", highlight=False)
        last: dict[int, str] = {}

        def tick(running: dict[int, str]) -> None:
            for experiment_id in set(last) - set(running):
                row = registry.get(experiment_id)
                console.print(f"{row.id:>5} {row.name:<32} {_status(row.status)} "
                              f"{fmt_pct(row.test_top1)}", highlight=False)
            for experiment_id in set(running) - set(last):
                console.print(f"{experiment_id:>5} started on {running[experiment_id]}",
                              style="dim", highlight=False)
            last.clear()
            last.update(running)

        schedule = run_all(registry, ids, LocalExecutor(), slots,
                           options=_worker_options(workers, cache_dir, False), on_tick=tick)
        tick({})
        _print_comparison([r for r in registry.results() if r["id"] in set(ids)], None,
                          "table")
        failed = [i for i in ids if registry.get(i).status != "finished"]
    if schedule.interrupted:
        raise typer.Exit(130)
    if failed:
        console.print(f"[red]{len(failed)} experiments did not finish:[/] "
                      f"{', '.join(map(str, failed))} (see `avc show ID`)")
        raise typer.Exit(1)


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, '')}]{status:<9}[/]"


@app.command("ls")
@handles_errors
def list_experiments(
    status: Annotated[Optional[str], typer.Option(help=f"One of: {', '.join(STATUSES)}.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset (folder) name.")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b")] = None,
    head: Annotated[Optional[str], typer.Option("--head", "-h")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only experiments with this tag.")] = None,
    sort: Annotated[str, typer.Option(help="Sort by a column: id, name, status, test_top1, "
                                      "created_at, …")] = "id",
    desc: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="At most this many: the last ones in "
                                                 "the sort order (default 50 in the table, all "
                                                 "with --json; 0 for all).")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """List the experiments of the registry."""
    if status is not None and status not in STATUSES:
        raise RegistryError(f"unknown status {status!r}; choose one of: {', '.join(STATUSES)}")
    filters = dict(status=status, dataset=dataset, backbone=backbone, head=head, tag=tag)
    if limit is None:
        limit = 0 if as_json else 50
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        # The last `limit` rows in the sort order: fetched in reverse, shown in order.
        rows = registry.list(**filters, sort=sort, descending=not desc, limit=limit,
                             light=True)[::-1]
        total = registry.count(**filters) if limit and len(rows) == limit else len(rows)
    if as_json:
        typer.echo(json.dumps([_row_dict(r) for r in rows], indent=2, default=str))
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
        cells = [str(r.id), _status(r.status), r.backbone, r.head, epochs, fmt_pct(r.test_top1),
                 r.dataset, r.created_at.strftime("%m-%d %H:%M")]
        if custom:
            cells.append("" if r.name == f"{r.backbone}/{r.head}" else r.name)
        table.add_row(*cells)
    console.print(table)
    if total > len(rows):
        console.print(f"[dim]showing the last {len(rows)} of {total}; --limit 0 shows all[/]")


def _row_dict(r) -> dict:
    return {"id": r.id, "name": r.name, "status": r.status, "dataset": r.dataset,
            "split": r.split, "backbone": r.backbone, "head": r.head, "preset": r.preset,
            "seed": r.seed, "tags": r.tags, "device": r.device, "host": r.host, "pid": r.pid,
            "epoch": r.epoch, "epochs": r.epochs, "test_top1": r.test_top1,
            "test_top5": r.test_top5, "test_loss": r.test_loss, "run_dir": r.run_dir,
            "created_at": r.created_at, "started_at": r.started_at,
            "finished_at": r.finished_at, "heartbeat_at": r.heartbeat_at,
            "config_hash": r.config_hash, "git_revision": r.git_revision,
            "versions": r.versions, "error": r.error}


@app.command()
@handles_errors
def show(experiment_id: ExperimentId, db: Db = None, as_json: AsJson = False) -> None:
    """Show one experiment: config, status, timings, metrics, confusion matrix, artifacts.

    A failed experiment shows its error (the traceback for an unexpected one).
    """
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        row = registry.get(experiment_id)
        artifacts = registry.artifacts(experiment_id)
        predictions = registry.predictions(experiment_id)
    if as_json:
        body = {**_row_dict(row), "config": row.config, "result": row.result,
                "artifacts": [{"kind": a.kind, "path": a.path, "size": a.size,
                               "sha256": a.sha256} for a in artifacts],
                "predictions": len(predictions)}
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    console.print(f"[bold]{row.id} {row.name}[/]  {_status(row.status)}", highlight=False)
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    duration = (row.finished_at - row.started_at).total_seconds() \
        if row.finished_at and row.started_at else None
    for key, value in (
        ("dataset", f"{row.dataset} (split {row.split})"), ("backbone", row.backbone),
        ("head", row.head), ("preset", f"{row.preset}, seed {row.seed}"),
        ("epoch", f"{row.epoch}/{row.epochs or '?'}"), ("device", row.device or "—"),
        ("host / pid", f"{row.host or '—'} / {row.pid or '—'}"),
        ("created", str(row.created_at)), ("started", str(row.started_at or "—")),
        ("finished", str(row.finished_at or "—")),
        ("duration", f"{duration:.1f} s" if duration is not None else "—"),
        ("heartbeat", str(row.heartbeat_at or "—")), ("run folder", row.run_dir),
        ("config hash", row.config_hash), ("git", row.git_revision or "—"),
        ("versions", ", ".join(f"{k} {v}" for k, v in (row.versions or {}).items()) or "—"),
        ("tags", ", ".join(row.tags or []) or "—"),
        ("predictions", str(len(predictions))),
    ):
        info.add_row(key, value)
    console.print(info)
    if row.result:
        _print_result(row)
        _print_confusion(row.result)
    if artifacts:
        table = Table("kind", "path", "size", "sha256", title="Artifacts", title_justify="left")
        for a in artifacts:
            table.add_row(a.kind, a.path, f"{a.size:,}", a.sha256[:12])
        console.print(table)
    if row.error:
        console.print(f"[red]error:[/] {row.error.strip()}", highlight=False)
    console.print(f"config: {json.dumps(row.config)}", highlight=False, soft_wrap=True)


def _print_confusion(result: dict) -> None:
    test = result.get("test") or {}
    confusion, classes = test.get("confusion"), result.get("classes", [])
    if not confusion:
        return
    table = Table("true \\ predicted", *[c[:10] for c in classes], title="Confusion matrix (test)",
                  title_justify="left")
    for name, counts in zip(classes, confusion):
        table.add_row(name, *[str(c) if c else "·" for c in counts])
    console.print(table)


@app.command()
@handles_errors
def compare(
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset.")] = None,
    tag: Annotated[Optional[str], typer.Option(help="Only experiments with this tag.")] = None,
    paper: Annotated[Optional[str], typer.Option(help="Show the ABDN paper's numbers beside: "
                                                 "ucf101 or sports1m.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, markdown, latex or "
                                     "json.")] = "table",
    metric: Annotated[str, typer.Option(help="top1 or top5 test accuracy.")] = "top1",
    db: Db = None,
) -> None:
    """The backbone × attention-mode table of test accuracy (%), best run per cell."""
    from avc_tui.compare import FORMATS, METRICS, PAPER

    if metric not in METRICS:
        raise RegistryError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if fmt not in FORMATS:
        raise RegistryError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if paper is not None and paper not in PAPER:
        raise RegistryError(f"no paper numbers for {paper!r}; choose one of: {', '.join(PAPER)}")
    with Registry(db, create=False) as registry:
        records = registry.results(dataset=dataset, tag=tag)
    _print_comparison(records, paper, fmt, metric)


def _print_comparison(records: list[dict], paper: str | None, fmt: str,
                      metric: str = "top1") -> None:
    from avc_tui.compare import comparison, render

    table = comparison(records, paper=paper, metric=metric)
    if fmt != "table":
        typer.echo(render(table, fmt))
        return
    if table.empty:
        console.print("no finished experiments to compare")
        return
    best = table[[c for c in table.columns if not c.endswith("(paper)")]].max().max()
    out = Table(title=f"Test {metric} accuracy (%), best run per cell", title_justify="left")
    out.add_column("CNN", style="bold")
    for column in table.columns:
        out.add_column(column, justify="right",
                       style="dim" if column.endswith("(paper)") else None)
    for name, values in table.iterrows():
        cells = []
        for column, value in values.items():
            text = "—" if value != value else f"{value:.1f}"  # NaN check
            if value == best and not column.endswith("(paper)"):
                text = f"[bold green]{text}[/]"
            cells.append(text)
        out.add_row(name, *cells)
    console.print(out)


@app.command()
@handles_errors
def cancel(experiment_id: ExperimentId, db: Db = None) -> None:
    """Stop a running experiment (its last epoch's checkpoint stays) or drop a queued one."""
    with Registry(db, create=False) as registry:
        row = registry.request_cancel(experiment_id)
        if row.status not in ("running", "queued"):
            raise RegistryError(f"experiment {experiment_id} is {row.status}, not running")
        if row.status == "running" and row.host == socket.gethostname() and row.pid:
            try:  # faster than waiting for the next heartbeat
                os.kill(row.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    console.print(f"experiment {experiment_id}: cancel requested", highlight=False)


@app.command()
@handles_errors
def resume(
    experiment_id: ExperimentId,
    detach: Annotated[bool, typer.Option(help="Continue in a background worker.")] = False,
    workers: Workers = None,
    cache_dir: CacheDir = None,
    device: Device = "auto",
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Continue a cancelled, lost or failed experiment from its last checkpoint.

    Its metric history is kept; the epochs after the checkpoint are run again.
    """
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        row = registry.get(experiment_id)
        if row.status in ("running", "queued", "finished"):
            raise RegistryError(f"experiment {experiment_id} is {row.status}; only cancelled, "
                                "lost or failed experiments can be resumed")
        if device != "auto":
            config = registry.config(experiment_id).with_changes(train={"device": device})
            registry.update(experiment_id, config=json.loads(config.to_json()))
        if not registry.requeue(experiment_id):
            raise RegistryError(f"experiment {experiment_id} changed state meanwhile; "
                                "see `avc show`")
        if detach:
            _detach(registry, experiment_id, _worker_options(workers, cache_dir, False),
                    resume=True, as_json=as_json)
            return
        _run_in_foreground(registry, experiment_id, resume=True, as_json=as_json,
                           num_workers=workers, cache_dir=cache_dir)


@app.command()
@handles_errors
def rm(
    experiment_ids: Annotated[list[int], typer.Argument(help="Experiment ids.")],
    files: Annotated[bool, typer.Option(help="Also delete the run folders.")] = False,
    db: Db = None,
) -> None:
    """Remove experiments (and their metrics, artifacts and predictions) from the registry."""
    with Registry(db, create=False) as registry:
        registry.mark_lost()
        rows = [registry.get(i) for i in experiment_ids]  # all exist, or nothing is removed
        busy = [r.id for r in rows if r.status == "running"]
        if busy:
            raise RegistryError(f"experiment {busy[0]} is running",
                                hint=f"cancel it first: avc cancel {busy[0]}")
        for row in rows:
            registry.delete(row.id)
            if files and Path(row.run_dir).is_dir():
                shutil.rmtree(row.run_dir)
            console.print(f"removed experiment {row.id} {row.name}", highlight=False)


@app.command()
@handles_errors
def export(
    out: Annotated[Path, typer.Argument(help="Output: a folder for csv (experiments.csv, "
                                        "metrics.csv), a file for json.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    experiment_id: Annotated[Optional[list[int]], typer.Option("--id", help="Only these "
                                                               "experiments.")] = None,
    db: Db = None,
) -> None:
    """Export experiments and their metric histories as CSV or JSON."""
    import pandas as pd

    if fmt not in ("csv", "json"):
        raise RegistryError(f"unknown export format {fmt!r}; choose csv or json")
    with Registry(db, create=False) as registry:
        rows = [registry.get(i) for i in experiment_id] if experiment_id else registry.list()
        runs = pd.DataFrame.from_records([_row_dict(r) for r in rows])
        points = pd.DataFrame.from_records(
            [{"experiment_id": p.experiment_id, "step": p.step, "epoch": p.epoch,
              "split": p.split, "key": p.key, "value": p.value, "time": p.time}
             for r in rows for p in registry.points(r.id)],
            columns=["experiment_id", "step", "epoch", "split", "key", "value", "time"])
    if fmt == "csv":
        out.mkdir(parents=True, exist_ok=True)
        runs.to_csv(out / "experiments.csv", index=False)
        points.to_csv(out / "metrics.csv", index=False)
        console.print(f"wrote {len(runs)} experiments and {len(points)} metric points to "
                      f"{out / 'experiments.csv'} and {out / 'metrics.csv'}", highlight=False)
        return
    body = {"experiments": json.loads(runs.to_json(orient="records", date_format="iso")),
            "metrics": json.loads(points.to_json(orient="records", date_format="iso"))}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=2))
    console.print(f"wrote {len(runs)} experiments and {len(points)} metric points to {out}",
                  highlight=False)
