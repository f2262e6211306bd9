"""`avc cancel`, `avc resume` and `avc rm`: an experiment's state changed through the control
layer, the outcome printed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Optional

import typer

from avc_tui import control
from avc_tui.cli import completion
from avc_tui.cli.options import (
    AsJson,
    Db,
    Device,
    execution_options,
    with_options,
    worker_options,
)
from avc_tui.cli.running import run_batch_in_foreground, run_in_foreground, start_in_background
from avc_tui.console import console
from avc_tui.registry import Registry
from core.errors import ConfigError

GroupOption = Annotated[Optional[int], typer.Option(
    "--group", help="A group's id (see `avc ls --groups`) instead of experiment ids: all of its "
                    "experiments.")]


def _one_target(ids: Sequence[int], group: int | None, command: str) -> None:
    if bool(ids) == (group is not None):
        raise ConfigError(f"`avc {command}` takes experiment ids or --group, one of them",
                          hint=f"for example `avc {command} 3` or `avc {command} --group 1`")


def cancel(
    experiment_ids: Annotated[Optional[list[int]], typer.Argument(
        autocompletion=completion.experiment_ids,
        help="Experiment ids.", show_default=False)] = None,
    group: GroupOption = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Stop running experiments (their last epoch's checkpoint stays) or drop queued ones."""
    ids = experiment_ids or []
    _one_target(ids, group, "cancel")
    with Registry(db, create=False) as registry:
        if group is not None:
            ids = control.cancel_group(registry, group)
        else:
            for experiment_id in ids:
                control.cancel(registry, experiment_id)
        rows = [registry.get(i) for i in ids]
    if as_json:  # a queued one is cancelled now; a running one stops at its next step
        typer.echo(json.dumps([{"id": r.id, "name": r.name, "status": r.status,
                                "cancel_requested": bool(r.cancel_requested)} for r in rows],
                              indent=2))
        return
    for experiment_id in ids:
        console.print(f"experiment {experiment_id}: cancel requested", highlight=False)


@with_options(options=worker_options, execution=execution_options)
def resume(
    options: control.WorkerOptions,
    execution: control.Execution,
    experiment_id: Annotated[Optional[int], typer.Argument(
        help="Experiment id (see `avc ls`).", show_default=False,
        autocompletion=completion.experiment_ids)] = None,
    group: GroupOption = None,
    detach: Annotated[bool, typer.Option(help="Continue in a background worker.")] = False,
    jobs: Annotated[Optional[int], typer.Option(help="With --group: jobs at once (default: one "
                                                "per GPU, or one on the CPU).")] = None,
    device: Device = "auto",
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Continue a cancelled, lost or failed experiment from its last checkpoint, or start a
    queued one that a stopped grid left behind; with --group, every one of the group's
    experiments that did not finish.

    Its metric history is kept; the epochs after the checkpoint are run again.
    """
    _one_target([experiment_id] if experiment_id is not None else [], group, "resume")
    if execution != control.Execution() and device != "auto":
        execution = replace(execution, device=device)  # refused on Ray: Ray places jobs
    with Registry(db, create=False) as registry:
        batch = None
        if detach:
            control.check_execution(execution)
        elif group is not None or execution != control.Execution():
            count = len(control.members(registry, group)) if group is not None else 1
            batch = control.prepare_batch(registry.url, count, jobs=jobs, execution=execution)
        if group is not None:
            ids = control.requeue_group(registry, group)
            if not as_json:
                console.print(f"group {group}: resuming experiments {', '.join(map(str, ids))}",
                              highlight=False)
            if detach:
                started = control.start_batch_background(registry, ids, jobs=jobs,
                                                         options=options, resume=True,
                                                         execution=execution)
                if as_json:
                    typer.echo(json.dumps({"group": group, "ids": ids, "pid": started.pid,
                                           "log": str(started.log)}, indent=2))
                    return
                console.print(f"running in the background; log: {started.log}",
                              highlight=False)
                return
            run_batch_in_foreground(registry, ids, batch, options=options, resume=True,
                                    as_json=as_json)
            return
        control.requeue_for_resume(registry, experiment_id, device=device)
        if detach:
            start_in_background(registry, experiment_id, resume=True, as_json=as_json,
                                options=options, execution=execution)
            return
        if batch is not None:  # on Ray, or with retries: a driver runs it
            run_batch_in_foreground(registry, [experiment_id], batch, options=options,
                                    resume=True, as_json=as_json, one=True)
            return
        run_in_foreground(registry, experiment_id, resume=True, as_json=as_json,
                          options=options)


def rm(
    experiment_ids: Annotated[Optional[list[int]], typer.Argument(
        autocompletion=completion.experiment_ids,
        help="Experiment ids.", show_default=False)] = None,
    group: GroupOption = None,
    files: Annotated[bool, typer.Option(help="Also delete the run folders.")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Remove experiments (and their metrics, artifacts and predictions) from the registry; with
    --group, the group and all its experiments."""
    ids = experiment_ids or []
    _one_target(ids, group, "rm")
    with Registry(db, create=False) as registry:
        if group is not None:
            removed, rows = control.delete_group(registry, group, files=files)
        else:
            rows = control.delete(registry, ids, files=files)
    if as_json:
        typer.echo(json.dumps({"removed": [{"id": r.id, "name": r.name, "run_dir": r.run_dir}
                                           for r in rows],
                               "group": removed.id if group is not None else None,
                               "files": files}, indent=2))
        return
    for row in rows:
        console.print(f"removed experiment {row.id} {row.name}", highlight=False)
    if group is not None:
        console.print(f"removed group {removed.id} ({removed.name})", highlight=False)
