"""Every operation that changes an experiment's state or starts work, once, for the CLI and the
TUI: register, run in the foreground, start in the background (one worker, or a batch runner for
several), run a batch here, cancel, resume, delete, and pick the checkpoint a model predicts with.

The functions raise ``AvcError`` (``RegistryError`` for the registry's refusals) with a hint; each
front end shows that its own way. None of them prints.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from avc_tui.registry import RESUMABLE, Registry, RegistryError, Status
from avc_tui.registry.models import Experiment
from avc_tui.runner.batch import start_batch
from avc_tui.runner.devices import Slot, available_devices, plan_slots
from avc_tui.runner.execution import Execution
from avc_tui.runner.executor import Executor, Job, LocalExecutor, WorkerOptions
from avc_tui.runner.scheduler import Schedule, run_all
from core.run_folder import RunFolder

# avc_tui.runner.job (the engine, PyTorch) is imported where a run is executed here, so that the
# CLI starts without loading PyTorch.
if TYPE_CHECKING:
    from core.config import ExperimentConfig
    from core.data import Dataset
    from core.events import EventCallback


@dataclass(frozen=True)
class BatchStarted:
    """A batch runner started in the background: its process and where its output goes."""

    pid: int
    log: Path


@dataclass(frozen=True)
class Started:
    """A run started in a background worker: its process and where its output goes."""

    experiment_id: int
    pid: int
    run_dir: str
    log: Path


def register(registry: Registry, configs: Sequence[ExperimentConfig], *,
             run_dir: str | Path | None = None, runs_root: str | Path | None = None,
             tags: Sequence[str] = ()) -> list[Experiment]:
    """Register every config as a queued experiment, in order; returns the rows."""
    if run_dir is not None:
        if len(configs) != 1:
            raise RegistryError("one run folder was given for several experiments",
                                hint="leave out --out so that each run gets its own folder")
        run_dir = Path(run_dir).expanduser().resolve()
        check_run_folder(registry, run_dir)
    return [registry.create(c, run_dir=run_dir, runs_root=runs_root, tags=tags)
            for c in configs]


def check_run_folder(registry: Registry, run_dir: Path) -> None:
    """Refuse a run folder (``--out``) that another experiment uses or that is not empty: a run
    writes into it and ``avc rm --files`` empties it. Raises ``RegistryError``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RegistryError(f"--out {run_dir} is a file, not a folder",
                            hint="give a new or empty folder for the run")
    owner = registry.with_run_dir(str(run_dir))
    if owner is not None:
        raise RegistryError(f"--out {run_dir} is the run folder of experiment {owner.id}",
                            hint="give a new or empty folder, or leave out --out")
    present = sorted(run_dir.iterdir()) if run_dir.is_dir() else []
    if present:
        shown = ", ".join(p.name for p in present[:3])
        raise RegistryError(f"--out {run_dir} is not empty ({shown}"
                            f"{', …' if len(present) > 3 else ''})",
                            hint="give a new or empty folder: avc writes its run files there, "
                                 "and `avc rm --files` removes them")


def run_here(registry: Registry, experiment_id: int, *, resume: bool = False,
             callbacks: Sequence[EventCallback] = (), options: WorkerOptions = WorkerOptions(),
             dataset: Dataset | None = None) -> Status:
    """Run the experiment in this process to its end; returns its final status (the error of
    a failed run is in the registry). ``dataset``, already opened by the caller, is not read
    again."""
    from avc_tui.runner.job import execute

    return Status(execute(registry, experiment_id, resume=resume, callbacks=callbacks,
                          num_workers=options.workers,
                          cache_dir=str(options.cache_dir) if options.cache_dir else None,
                          skip_unreadable=options.skip_unreadable, dataset=dataset))


def start_background(registry: Registry, experiment_id: int, *, resume: bool = False,
                     options: WorkerOptions = WorkerOptions(),
                     execution: Execution = Execution()) -> Started:
    """Start a detached worker for a queued experiment; it goes on when the caller exits (and
    the caller never keeps a zombie of it). A device set in the config is kept; ``auto`` takes
    the first free slot's. On Ray (or with retries) a detached batch runner drives it instead:
    Ray tasks end with their driver."""
    if execution != Execution():
        device = registry.config(experiment_id).train.device
        if execution.executor == "local" and execution.device is None and device != "auto":
            execution = replace(execution, device=device)  # kept, as for a single worker
        started = start_batch_background(registry, [experiment_id], options=options,
                                         resume=resume, execution=execution)
        return Started(experiment_id, started.pid, registry.get(experiment_id).run_dir,
                       started.log)
    row = registry.get(experiment_id)
    train = registry.config(experiment_id).train
    device = train.device
    # A data-parallel run (--processes N) takes N GPUs where there are GPUs.
    share = float(train.processes) if train.processes > 1 else None
    slot = (plan_slots(available_devices(), 1, gpus_per_job=share)[0] if device == "auto"
            else Slot(device, device, {}))
    folder = RunFolder(row.run_dir)
    job = Job(experiment_id, registry.url, slot, folder.log, resume=resume,
              options=options.args())
    handle = LocalExecutor().submit(job)
    handle.reap_when_done()
    return Started(experiment_id, handle.pid, row.run_dir, folder.log)


def start_batch_background(registry: Registry, experiment_ids: Sequence[int], *,
                           jobs: int | None = None, options: WorkerOptions = WorkerOptions(),
                           resume: bool = False,
                           execution: Execution = Execution()) -> BatchStarted:
    """Run several queued experiments from a detached batch runner (``avc grid``'s scheduling),
    so they go on when the caller exits; returns the runner's pid and log file. ``resume``:
    each goes on from its last checkpoint, if it has one. On Ray the runner is the cluster's
    driver, in its own session on this (the head) node."""
    check_execution(execution)
    first, last = experiment_ids[0], experiment_ids[-1]
    log = Path(registry.get(first).run_dir).parent / f"batch-{first}-{last}.log"
    process = start_batch(registry.url, experiment_ids, log, jobs=jobs, options=options.args(),
                          resume=resume, execution=execution)
    return BatchStarted(process.pid, log)


def check_execution(execution: Execution) -> None:
    """What can be checked before anything starts in the background: Ray must be installed.
    Raises ``ConfigError`` with what to install."""
    if execution.executor == "ray":
        from avc_tui.runner.ray_executor import import_ray

        import_ray()


@dataclass(frozen=True)
class Batch:
    """A started executor and the slots a batch of jobs fills (see :func:`prepare_batch`)."""

    executor: Executor
    slots: list[Slot]
    execution: Execution

    def describe(self) -> str:
        """Where the jobs run, for a person."""
        if self.execution.executor == "ray":
            gpus = getattr(self.executor, "gpus_per_job", 0)
            share = f"{gpus:g} GPU" if gpus else "the CPU"
            return (f"running on Ray, {share} and {self.execution.cpus_per_job:g} CPU a job, "
                    f"{len(self.slots)} handed over at once")
        return f"running {len(self.slots)} at a time on {', '.join(s.name for s in self.slots)}"


def prepare_batch(db_url: str, count: int, *, jobs: int | None = None,
                  execution: Execution = Execution()) -> Batch:
    """Start the executor for a batch of ``count`` jobs run from here, with the registry
    ``db_url`` (before registering them: a refusal leaves nothing behind); raises
    ``ConfigError`` (Ray missing or unreachable, a SQLite registry on a cluster of several
    hosts)."""
    executor = execution.start(db_url)
    return Batch(executor, execution.slots(executor, count, jobs), execution)


def run_batch_here(registry: Registry, experiment_ids: Sequence[int], batch: Batch, *,
                   options: WorkerOptions = WorkerOptions(), resume: bool = False,
                   on_tick: Callable[[dict[int, str]], None] | None = None) -> Schedule:
    """Run queued experiments in worker processes from here, one per slot at a time (see
    :func:`prepare_batch`), until all have ended or Ctrl-C; returns what happened.
    ``resume``: each goes on from its last checkpoint, if it has one; a run lost on the way is
    resumed up to the execution's ``retries`` times."""
    return run_all(registry, experiment_ids, batch.executor, batch.slots,
                   options=options.args(), resume=resume, on_tick=on_tick,
                   retries=batch.execution.retries)


def cancel(registry: Registry, experiment_id: int) -> Experiment:
    """Stop a running experiment after its current step (its last checkpoint stays) or drop a
    queued one; returns the row as it was. Raises ``RegistryError`` when it is neither."""
    row = registry.request_cancel(experiment_id)
    if row.status not in (Status.RUNNING, Status.QUEUED):
        raise RegistryError(f"experiment {experiment_id} is {row.status}, not running",
                            hint="`avc ls --status running` lists the running ones")
    if row.status == Status.RUNNING and row.host == socket.gethostname() and row.pid:
        try:  # faster than waiting for the next heartbeat
            os.kill(row.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    return row


def requeue_for_resume(registry: Registry, experiment_id: int, *,
                       device: str | None = None) -> Experiment:
    """Queue a cancelled, lost or failed experiment again so that a worker continues it from its
    last checkpoint, or take a queued one that no runner started; ``device`` (not ``auto``)
    moves it to another device. Returns the row."""
    registry.mark_lost()
    row = registry.get(experiment_id)
    if row.status not in (*RESUMABLE, Status.QUEUED):
        raise RegistryError(f"experiment {experiment_id} is {row.status}; only cancelled, "
                            "lost, failed or queued experiments can be resumed",
                            hint=f"`avc show {experiment_id}` shows it")
    if device is not None and device != "auto":
        config = registry.config(experiment_id).with_changes(train={"device": device})
        registry.update(experiment_id, config=config.to_dict())
    if row.status == Status.QUEUED:
        # Never started (its grid was stopped or killed): it starts now. A runner that still
        # waits for it finds it no longer queued and skips it.
        return row
    if not registry.requeue(experiment_id):
        raise RegistryError(f"experiment {experiment_id} changed state meanwhile",
                            hint=f"see `avc show {experiment_id}`")
    return registry.get(experiment_id)


def delete(registry: Registry, experiment_ids: Sequence[int], *,
           files: bool = False) -> list[Experiment]:
    """Remove experiments (their metrics, artifacts and predictions) from the registry, and with
    ``files`` the files their runs wrote (a run folder left empty goes too; anything else in it
    stays); all of them or none (a missing or running one refuses)."""
    registry.mark_lost()
    rows = [registry.get(i) for i in experiment_ids]
    busy = [r.id for r in rows if r.status == Status.RUNNING]
    if busy:
        raise RegistryError(f"experiment {busy[0]} is running",
                            hint=f"cancel it first: avc cancel {busy[0]}")
    kept: list[str] = []
    for row in rows:
        registry.delete(row.id)
        if files:
            try:
                RunFolder(row.run_dir).remove()  # only what the run wrote
            except OSError as error:
                kept.append(f"{row.run_dir} ({error.strerror or error})")
    if kept:
        raise RegistryError(f"experiments {', '.join(str(r.id) for r in rows)} were removed, "
                            f"but not all of their files: {'; '.join(kept)}",
                            hint="remove what is left by hand")
    return rows


def experiment_checkpoint(registry: Registry, experiment_id: int) -> Path:
    """The checkpoint a registered experiment predicts with (see :func:`model_checkpoint`)."""
    return RunFolder(registry.get(experiment_id).run_dir).model_checkpoint()


def model_checkpoint(model: str, db: str | None = None) -> Path:
    """The checkpoint behind ``model``: a registry experiment id, a run folder or a checkpoint
    file (``best.pt`` of a run folder when it has one, else its last ``checkpoint.pt``)."""
    checkpoint = Path(model)
    if is_experiment_id(model):
        with Registry(db, create=False) as registry:
            checkpoint = Path(registry.get(int(model)).run_dir)
    if checkpoint.is_dir():
        checkpoint = RunFolder(checkpoint).model_checkpoint()
    return checkpoint


def is_experiment_id(model: str) -> bool:
    """Whether ``model`` names a registry experiment rather than a file or folder."""
    return model.isdigit() and not Path(model).exists()
