"""Running many registered experiments through an executor, at most one per slot at a time.

Jobs of the same backbone may run at once: the feature cache's per-extraction lock makes the
first one extract and the others wait and then read its features, so each backbone is extracted
once however the jobs interleave.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from avc_tui.registry import Registry, RegistryError, Status
from avc_tui.runner.devices import Slot
from avc_tui.runner.executor import EXIT_TAKEN, Executor, Job, JobHandle
from core.config import features_key
from core.run_folder import RunFolder

POLL_SECONDS = 0.5
log = logging.getLogger(__name__)


@dataclass
class Schedule:
    """What :func:`run_all` did: the worker exit status of every job, and any left unstarted."""

    exit_codes: dict[int, int] = field(default_factory=dict)
    unstarted: list[int] = field(default_factory=list)
    interrupted: bool = False
    retried: dict[int, int] = field(default_factory=dict)


def run_all(registry: Registry, experiment_ids: Sequence[int], executor: Executor,
            slots: Sequence[Slot], *, resume: bool = False, options: Sequence[str] = (),
            on_tick: Callable[[dict[int, str]], None] | None = None,
            poll_seconds: float = POLL_SECONDS, retries: int = 0) -> Schedule:
    """Run every experiment, filling free slots as jobs end; returns when all have ended.

    ``on_tick`` receives {experiment id: slot name} of the running jobs after each poll. Ctrl-C
    stops the running workers (each saves and marks its run cancelled) and cancels the rest.
    ``retries``: a run that ends ``lost`` (its worker or node died) is queued again and resumed
    from its last checkpoint, up to that many times; each start is an attempt in the registry.
    """
    pending = deque(experiment_ids)
    resuming = set(experiment_ids) if resume else set()
    free = list(slots)
    running: dict[int, tuple[JobHandle, Slot]] = {}
    schedule = Schedule()
    with _sigterm_as_interrupt():
        try:
            while pending or running:
                while pending and free:
                    experiment_id = pending.popleft()
                    try:
                        if experiment_id in resuming:
                            registry.requeue(experiment_id)
                        row = registry.get(experiment_id)
                    except RegistryError:
                        continue  # deleted while it waited
                    if row.status != Status.QUEUED:
                        continue  # cancelled while it waited
                    slot = free.pop(0)
                    job = Job(experiment_id, registry.url, slot, RunFolder(row.run_dir).log,
                              resume=experiment_id in resuming, options=list(options),
                              features=features_key(row.config))
                    try:
                        handle = executor.submit(job)
                    except Exception as error:  # noqa: BLE001 - this run fails, not the batch
                        log.exception("experiment %d could not be started", experiment_id)
                        free.append(slot)
                        registry.finish(experiment_id, Status.FAILED,
                                        error=f"its executor could not start it: {error}")
                        schedule.exit_codes[experiment_id] = 1
                        continue
                    running[experiment_id] = (handle, slot)
                    log.info("experiment %d started on %s%s", experiment_id, slot.name,
                             " (resuming)" if job.resume else "")
                for experiment_id, (handle, slot) in list(running.items()):
                    code = handle.poll()
                    if code is not None:
                        schedule.exit_codes[experiment_id] = code
                        del running[experiment_id]
                        free.append(slot)
                        status = _settle(registry, experiment_id, code, handle.ended())
                        log.info("experiment %d ended %s (exit status %s)", experiment_id,
                                 status or "elsewhere", code)
                        tries = schedule.retried.get(experiment_id, 0)
                        if status == Status.LOST and tries < retries:
                            log.warning("experiment %d was lost: retry %d of %d, from its last "
                                        "checkpoint", experiment_id, tries + 1, retries)
                            schedule.retried[experiment_id] = tries + 1
                            resuming.add(experiment_id)
                            pending.append(experiment_id)
                if on_tick is not None:
                    on_tick({i: slot.name for i, (_, slot) in running.items()})
                if running:
                    time.sleep(poll_seconds)
        except KeyboardInterrupt:
            schedule.interrupted = True
            _ignore_sigterm()  # a second one must not cut the cleanup short
            for experiment_id in pending:  # first, so that a second Ctrl-C leaves nothing queued
                registry.request_cancel(experiment_id)
            for experiment_id, (handle, _) in running.items():
                # Through the registry too: a worker sees it at its next heartbeat, on any host,
                # even where the executor's own signal does not reach it (Ray's cancel of a
                # running task is an interrupt of the task's Python, which a busy node delays).
                try:
                    registry.request_cancel(experiment_id)
                except RegistryError:
                    pass  # deleted meanwhile
                handle.terminate()
            for experiment_id, (handle, _) in running.items():
                schedule.exit_codes[experiment_id] = handle.wait()
                _settle(registry, experiment_id, schedule.exit_codes[experiment_id],
                        handle.ended())
    schedule.unstarted = list(pending) if schedule.interrupted else []
    return schedule


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM (a stopped `avc grid` or batch runner) stop the loop as Ctrl-C does, so that
    the running workers save and the unstarted experiments are cancelled, never left queued.
    Only the main thread can set signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _ignore_sigterm() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _settle(registry: Registry, experiment_id: int, code: int,
            ended: tuple[str, str] | None = None) -> str | None:
    """Record how a job ended when its worker did not (killed, crashed in C code, its node
    lost: ``lost``; ``ended`` is the executor's account of it); returns the run's status now.
    """
    if code == EXIT_TAKEN:
        return None  # another worker runs the experiment: its state is that worker's
    try:
        status = registry.get(experiment_id).status
    except RegistryError:
        return None  # deleted meanwhile
    if status in (Status.QUEUED, Status.RUNNING):
        outcome, reason = ended or (Status.LOST, f"the worker exited with status {code} without "
                                                 "recording an end")
        if outcome == Status.CANCELLED and status == Status.RUNNING:
            # A task cancelled by force: its worker was killed before it could save and say so.
            outcome, reason = Status.LOST, "its task was cancelled by force, killing the worker"
        registry.finish(experiment_id, outcome, error=reason)
        status = outcome
    return status
