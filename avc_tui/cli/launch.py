"""`avc run` (one experiment) and `avc grid` (backbones × heads): both take the options of
:func:`avc_tui.cli.options.launch_request` and go through the control layer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from avc_tui import control
from avc_tui.cli.options import (
    AsJson,
    Backbone,
    Db,
    Device,
    launch_request,
    with_options,
    worker_options,
)
from avc_tui.cli.render import print_comparison, status_cell
from avc_tui.cli.running import run_in_foreground, start_in_background
from avc_tui.console import console
from avc_tui.formatting import fmt_pct
from avc_tui.registry import Registry, Status


@with_options(request=launch_request, options=worker_options)
def run(
    request: control.LaunchRequest,
    options: control.WorkerOptions,
    backbone: Backbone = None,
    head: Annotated[str, typer.Option("--head", "-h", help="Head / attention mode "
                                      "(see `avc models`).")] = control.DEFAULT_HEAD,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default avc-runs/<id>-"
                                                "<backbone>-<head>).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for the experiment.")] = None,
    device: Device = "auto",
    detach: Annotated[bool, typer.Option(help="Run in a background worker and return at "
                                         "once.")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Register one experiment in the registry and run it; prints the result."""
    request = replace(request, backbones=(backbone,) if backbone else (), heads=(head,),
                      device=device, name=name)
    [config] = control.build_configs(request)
    # A bad dataset, an unreadable video or missing weights fail before anything is registered.
    dataset = control.check_launch([config], cache_dir=options.cache_dir,
                                   skip_unreadable=options.skip_unreadable)
    with Registry(db) as registry:
        [row] = control.register(registry, [config], run_dir=out, tags=request.tags)
        if detach:
            start_in_background(registry, row.id, resume=False, as_json=as_json,
                                options=options)
            return
        run_in_foreground(registry, row.id, resume=False, as_json=as_json, options=options,
                          dataset=dataset)


@with_options(request=launch_request, options=worker_options)
def grid(
    request: control.LaunchRequest,
    options: control.WorkerOptions,
    backbones: Annotated[Optional[str], typer.Option(help="Comma-separated backbones (default: "
                                                     "the ABDN five, or the layout's own "
                                                     "features).")] = None,
    heads: Annotated[Optional[str], typer.Option(help="Comma-separated heads (default: the "
                                                 "three ABDN modes).")] = None,
    jobs: Annotated[Optional[int], typer.Option(help="Jobs at once (default: one per GPU, or "
                                                "one on the CPU).")] = None,
    db: Db = None,
) -> None:
    """Run backbones × heads on one dataset (default: the ABDN 5 × 3 grid).

    As many jobs run at once as there are devices (one per GPU, else one on the CPU, or --jobs);
    each backbone's features are extracted once and shared by all its heads.
    """
    from core.backbones import backbone_names
    from core.models.registry import head_names

    request = replace(
        request, grid=True, tags=(*request.tags, "grid"),
        backbones=control.chosen_names(backbones, backbone_names(), "backbone")
        if backbones else (),
        heads=control.chosen_names(heads, head_names(), "head") if heads else ())
    configs = control.build_configs(request)
    control.check_launch(configs, cache_dir=options.cache_dir,
                         skip_unreadable=options.skip_unreadable)
    with Registry(db) as registry:
        ids = [row.id for row in control.register(registry, configs, tags=request.tags)]
        last: dict[int, str] = {}

        def tick(running: dict[int, str]) -> None:
            for experiment_id in set(last) - set(running):
                row = registry.get(experiment_id)
                console.print(f"{row.id:>5} {row.name:<32} {status_cell(row.status)} "
                              f"{fmt_pct(row.test_top1)}", highlight=False)
            for experiment_id in set(running) - set(last):
                console.print(f"{experiment_id:>5} started on {running[experiment_id]}",
                              style="dim", highlight=False)
            last.clear()
            last.update(running)

        slots = control.job_slots(jobs)
        console.print(f"registered experiments {ids[0]}–{ids[-1]}; running {len(slots)} at a "
                      f"time on {', '.join(s.name for s in slots)}", highlight=False)
        schedule = control.run_batch_here(registry, ids, slots, options=options, on_tick=tick)
        tick({})
        print_comparison([r for r in registry.results() if r["id"] in set(ids)], None, "table")
        failed = [i for i in ids if registry.get(i).status != Status.FINISHED]
    if schedule.interrupted:
        raise typer.Exit(130)
    if failed:
        console.print(f"[red]{len(failed)} experiments did not finish:[/] "
                      f"{', '.join(map(str, failed))} (see `avc show ID`)")
        raise typer.Exit(1)
