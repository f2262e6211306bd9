"""`avc cancel`, `avc resume` and `avc rm`: an experiment's state changed through the control
layer, the outcome printed."""

from __future__ import annotations

from typing import Annotated

import typer

from avc_tui import control
from avc_tui.cli.options import AsJson, Db, Device, ExperimentId, with_options, worker_options
from avc_tui.cli.running import run_in_foreground, start_in_background
from avc_tui.console import console
from avc_tui.registry import Registry


def cancel(experiment_id: ExperimentId, db: Db = None) -> None:
    """Stop a running experiment (its last epoch's checkpoint stays) or drop a queued one."""
    with Registry(db, create=False) as registry:
        control.cancel(registry, experiment_id)
    console.print(f"experiment {experiment_id}: cancel requested", highlight=False)


@with_options(options=worker_options)
def resume(
    experiment_id: ExperimentId,
    options: control.WorkerOptions,
    detach: Annotated[bool, typer.Option(help="Continue in a background worker.")] = False,
    device: Device = "auto",
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Continue a cancelled, lost or failed experiment from its last checkpoint, or start a
    queued one that a stopped grid left behind.

    Its metric history is kept; the epochs after the checkpoint are run again.
    """
    with Registry(db, create=False) as registry:
        control.requeue_for_resume(registry, experiment_id, device=device)
        if detach:
            start_in_background(registry, experiment_id, resume=True, as_json=as_json,
                                options=options)
            return
        run_in_foreground(registry, experiment_id, resume=True, as_json=as_json,
                          options=options)


def rm(
    experiment_ids: Annotated[list[int], typer.Argument(help="Experiment ids.")],
    files: Annotated[bool, typer.Option(help="Also delete the run folders.")] = False,
    db: Db = None,
) -> None:
    """Remove experiments (and their metrics, artifacts and predictions) from the registry."""
    with Registry(db, create=False) as registry:
        rows = control.delete(registry, experiment_ids, files=files)
    for row in rows:
        console.print(f"removed experiment {row.id} {row.name}", highlight=False)
