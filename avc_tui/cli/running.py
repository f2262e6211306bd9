"""Following a run from the command line: in the foreground with live progress and the result
(or the error) at the end, or started in the background with where to look. `avc run` and
`avc resume` both end here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from avc_tui import control
from avc_tui.cli.render import print_comparison, print_result, status_cell
from avc_tui.console import ProgressReporter, console
from avc_tui.formatting import error_and_hint, fmt_pct
from avc_tui.registry import Registry, Status
from avc_tui.registry.models import Experiment
from core.errors import AvcError

if TYPE_CHECKING:
    from core.data import Dataset


def run_record(row: Experiment) -> dict:
    """How `avc run --json` reports a run that ended."""
    return {"id": row.id, "status": row.status, "run_dir": row.run_dir, "error": row.error,
            **(row.result or {})}


def run_in_foreground(registry: Registry, experiment_id: int, *, resume: bool, as_json: bool,
                      options: control.WorkerOptions, dataset: Dataset | None = None) -> None:
    """Run the experiment here and print its result; exits 130 when it was cancelled, 1 when
    it failed."""
    with ProgressReporter(quiet=as_json) as reporter:
        status = control.run_here(registry, experiment_id, resume=resume, callbacks=[reporter],
                                  options=options, dataset=dataset)
    row = registry.get(experiment_id)
    if as_json:
        typer.echo(json.dumps(run_record(row), indent=2))
    elif status == Status.FINISHED:
        print_result(row)
    if status == Status.CANCELLED:
        if not as_json:
            console.print(f"[yellow]cancelled[/] at epoch {row.epoch}; continue with "
                          f"`avc resume {row.id}`", highlight=False)
        raise typer.Exit(130)
    if status not in (Status.FINISHED, Status.CANCELLED, Status.FAILED):
        raise AvcError(f"experiment {row.id} was started by another worker meanwhile (it is "
                       f"{row.status})", hint=f"follow it with `avc show {row.id}` or `avc tui`")
    if status == Status.FAILED:
        if as_json:
            raise typer.Exit(1)
        gist, hint = error_and_hint(row.error)
        raise AvcError(f"experiment {row.id} failed: {gist}",
                       hint=hint or f"`avc show {row.id}` shows the whole error; after fixing "
                                    f"it, `avc resume {row.id}` goes on from the last epoch")


def start_in_background(registry: Registry, experiment_id: int, *, resume: bool, as_json: bool,
                        options: control.WorkerOptions,
                        execution: control.Execution = control.Execution()) -> None:
    """Start a detached worker (or, on Ray, a detached driver) for the experiment and say where
    to follow it."""
    started = control.start_background(registry, experiment_id, resume=resume, options=options,
                                       execution=execution)
    if as_json:
        typer.echo(json.dumps({"id": experiment_id, "pid": started.pid,
                               "run_dir": started.run_dir, "log": str(started.log)}))
        return
    how = f"pid {started.pid}" if started.pid else f"on {execution.executor}"
    console.print(f"experiment {experiment_id} started in the background ({how}); "
                  f"follow it with `avc show {experiment_id}` or `avc tui`; log: {started.log}",
                  highlight=False)


def run_batch_in_foreground(registry: Registry, ids: list[int], batch: control.Batch, *,
                            options: control.WorkerOptions, resume: bool = False,
                            as_json: bool = False, one: bool = False) -> None:
    """Run the experiments ``ids`` in worker processes from here (as many at once as ``batch``,
    from :func:`control.prepare_batch`, has slots), print each as it starts and ends, then their
    comparison table (``as_json``: only what `avc run --json` prints, for each run in a list, or
    for the ``one`` run alone). Exits 130 when stopped, 1 when some did not finish."""
    last: dict[int, str] = {}

    def tick(running: dict[int, str]) -> None:
        if as_json:
            return
        for experiment_id in set(last) - set(running):
            row = registry.get(experiment_id)
            console.print(f"{row.id:>5} {row.name:<32} {status_cell(row.status)} "
                          f"{fmt_pct(row.test_top1)}", highlight=False)
        for experiment_id in set(running) - set(last):
            where = ("handed to Ray" if running[experiment_id].startswith("ray")
                     else f"started on {running[experiment_id]}")
            console.print(f"{experiment_id:>5} {where}", style="dim", highlight=False)
        last.clear()
        last.update(running)

    if not as_json:
        console.print(batch.describe(), highlight=False)
    schedule = control.run_batch_here(registry, ids, batch, options=options, resume=resume,
                                      on_tick=tick)
    tick({})
    failed = [i for i in ids if registry.get(i).status != Status.FINISHED]
    if as_json:
        records = [run_record(registry.get(i)) for i in ids]
        typer.echo(json.dumps(records[0] if one else records, indent=2, default=str))
        if schedule.interrupted or failed:
            raise typer.Exit(130 if schedule.interrupted else 1)
        return
    wanted = set(ids)
    print_comparison([r for r in registry.results() if r["id"] in wanted], None, "table")
    if schedule.interrupted:
        raise typer.Exit(130)
    if failed:
        raise AvcError(f"{len(failed)} experiments did not finish: {', '.join(map(str, failed))}",
                       hint=f"`avc show {failed[0]}` shows why; after a fix, `avc resume ID` "
                            f"goes on from the last saved epoch")
