"""`avc run` (one experiment) and `avc grid` (backbones × heads): both take the options of
:func:`avc_tui.cli.options.launch_request` and go through the control layer."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from avc_tui import control
from avc_tui.cli import completion
from avc_tui.cli.options import (
    AsJson,
    Backbone,
    Db,
    Device,
    default_request,
    execution_options,
    launch_request,
    with_options,
    worker_options,
)
from avc_tui.cli.running import run_batch_in_foreground, run_in_foreground, start_in_background
from avc_tui.console import console
from avc_tui.registry import Registry
from core.errors import AvcError, ConfigError

if TYPE_CHECKING:
    from core.config import ExperimentConfig


@with_options(request=launch_request, options=worker_options, execution=execution_options)
def run(
    request: control.LaunchRequest,
    options: control.WorkerOptions,
    execution: control.Execution,
    backbone: Backbone = None,
    head: Annotated[str, typer.Option("--head", "-h", help="Head / attention mode "
                                      "(see `avc models`).",
                                      autocompletion=completion.heads)] = control.DEFAULT_HEAD,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default avc-runs/<id>-"
                                                "<backbone>-<head>).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for the experiment.")] = None,
    device: Device = "auto",
    detach: Annotated[bool, typer.Option(help="Run in a background worker and return at "
                                         "once.")] = False,
    config_file: Annotated[Optional[Path], typer.Option(
        "--config", help="Run this config exactly (a run folder's config.json), instead of "
                         "ROOT and the launch options.")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Register one experiment in the registry and run it; prints the result."""
    if execution != control.Execution() and device != "auto":
        execution = replace(execution, device=device)  # refused on Ray: Ray places jobs
    if config_file is not None:
        _only_config(request, backbone is None and head == control.DEFAULT_HEAD, "run")
        config = _read_config(config_file)
        if device != "auto":  # where it runs is not what it is: the hash stays
            config = config.with_changes(train={"device": device})
        if name:
            config = config.with_changes(name=name)
    else:
        request = replace(request, backbones=(backbone,) if backbone else (), heads=(head,),
                          device=device, name=name)
        [config] = control.build_configs(request)
    # A bad dataset, an unreadable video or missing weights fail before anything is registered.
    dataset = control.check_launch([config], cache_dir=options.cache_dir,
                                   skip_unreadable=options.skip_unreadable)
    with Registry(db) as registry:
        batch = None
        if detach:
            control.check_execution(execution)
        elif execution != control.Execution():  # on Ray, or with retries: a driver runs it
            batch = control.prepare_batch(registry.url, 1, execution=execution)
        [row] = control.register(registry, [config], run_dir=out, tags=request.tags)
        if detach:
            start_in_background(registry, row.id, resume=False, as_json=as_json,
                                options=options, execution=execution)
            return
        if batch is not None:
            run_batch_in_foreground(registry, [row.id], batch, options=options,
                                    as_json=as_json, one=True)
            return
        run_in_foreground(registry, row.id, resume=False, as_json=as_json, options=options,
                          dataset=dataset)


@with_options(request=launch_request, options=worker_options, execution=execution_options)
def grid(
    request: control.LaunchRequest,
    options: control.WorkerOptions,
    execution: control.Execution,
    backbones: Annotated[Optional[str], typer.Option(help="Comma-separated backbones (default: "
                                                     "the ABDN five, or the layout's own "
                                                     "features).",
                                                     autocompletion=completion.backbones)] = None,
    heads: Annotated[Optional[str], typer.Option(help="Comma-separated heads (default: the "
                                                 "three ABDN modes).",
                                                 autocompletion=completion.heads)] = None,
    trials: Annotated[int, typer.Option(help="Repeat each cell with this many training seeds "
                                        "(--seed, --seed + 1, …).")] = 1,
    split_seeds: Annotated[int, typer.Option(help="Repeat each cell over this many seeded "
                                             "ABDN 70/30 splits (the paper's protocol).")] = 1,
    splits: Annotated[Optional[str], typer.Option(help="Repeat each cell over these official "
                                                  "folds, e.g. 1,2,3 (needs --layout).")] = None,
    sample: Annotated[Optional[int], typer.Option(
        help="Run this many random combinations of the swept values instead of all of them; "
             "numeric options then also take ranges, e.g. --lr 1e-4..1e-2:log.")] = None,
    sample_seed: Annotated[int, typer.Option(help="Seed of --sample's draws.")] = 0,
    group_name: Annotated[Optional[str], typer.Option(help="Name of the group the runs are "
                                                      "registered in.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Register more than "
                                      f"{control.CONFIRM_ABOVE} runs without asking.")] = False,
    jobs: Annotated[Optional[int], typer.Option(help="Jobs at once (default: one per GPU, or "
                                                "one on the CPU).")] = None,
    detach: Annotated[bool, typer.Option(help="Run in a background batch runner and return at "
                                         "once.")] = False,
    config_file: Annotated[Optional[Path], typer.Option(
        "--config", help="A sweep file (TOML or JSON: fixed settings, lists to sweep, trials; "
                         "see the README) instead of ROOT and the options above.")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Run backbones × heads (× trials) on one dataset (default: the ABDN 5 × 3 grid).

    The runs are registered as one group (`avc ls --groups`), which `avc resume --group`,
    `avc cancel --group`, `avc rm --group` and `avc compare --group` take as one. As many jobs
    run at once as there are devices (one per GPU, else one on the CPU, or --jobs); each
    backbone's features are extracted once and shared by all its heads and trials.
    """
    from core.backbones import backbone_names
    from core.models.registry import head_names

    if config_file is not None:
        _only_config(request, not (backbones or heads or splits or trials != 1
                                   or split_seeds != 1 or sample is not None), "grid")
        request, chosen, named, sample, sample_seed = control.read_sweep_file(config_file)
        group_name = group_name or named
        backbones, heads = ",".join(request.backbones), ",".join(request.heads)
    else:
        folds = [f.strip() for f in (splits or "").split(",") if f.strip()]
        chosen = control.Trials(trials, split_seeds, folds)
    request = replace(
        request, grid=True, tags=(*request.tags, "grid"),
        backbones=control.chosen_names(backbones, backbone_names(), "backbone")
        if backbones else (),
        heads=control.chosen_names(heads, head_names(), "head") if heads else ())
    planned = control.plan_grid(request, chosen, sample=sample, sample_seed=sample_seed)
    control.check_launch(planned.configs, cache_dir=options.cache_dir,
                         skip_unreadable=options.skip_unreadable)
    confirm_count(len(planned.configs), yes)
    with Registry(db) as registry:
        # The executor first: a refusal (Ray missing or unreachable) registers nothing.
        if detach:
            control.check_execution(execution)
        else:
            batch = control.prepare_batch(registry.url, len(planned.configs), jobs=jobs,
                                          execution=execution)
        group, rows = control.register_group(registry, planned, name=group_name,
                                             tags=request.tags)
        ids = [row.id for row in rows]
        if not as_json:
            console.print(f"group {group.id} ({group.name}): registered experiments "
                          f"{ids[0]}–{ids[-1]}", highlight=False)
        if detach:
            started = control.start_batch_background(registry, ids, jobs=jobs, options=options,
                                                     execution=execution)
            if as_json:
                typer.echo(json.dumps({"group": group.id, "name": group.name, "ids": ids,
                                       "pid": started.pid, "log": str(started.log)}, indent=2))
                return
            console.print(f"running in the background; follow it with `avc ls --group "
                          f"{group.id}` or `avc tui`; log: {started.log}", highlight=False)
            return
        run_batch_in_foreground(registry, ids, batch, options=options, as_json=as_json)


def confirm_count(count: int, yes: bool) -> None:
    """Ask before registering more than ``CONFIRM_ABOVE`` runs (unless ``yes``); without a
    terminal to ask on, refuse with a hint instead."""
    if count <= control.CONFIRM_ABOVE or yes:
        return
    if not sys.stdin.isatty():
        raise AvcError(f"this would register {count} experiments",
                       hint="pass --yes to register them, or fewer backbones, heads or trials")
    typer.confirm(f"register {count} experiments?", abort=True)


def _only_config(request: control.LaunchRequest, nothing_else: bool, command: str) -> None:
    """With --config the file says everything: refuse ROOT or a launch option beside it."""
    if request != default_request() or not nothing_else:
        raise ConfigError(f"`avc {command} --config` takes everything from the file; other "
                          f"launch options were given too",
                          hint="put them in the file, or leave out --config")


def _read_config(path: Path) -> ExperimentConfig:
    from core.config import ExperimentConfig

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}",
                          hint="pass a run folder's config.json") from error
    return ExperimentConfig.from_json(text)
