"""Running one registered experiment: in the foreground (``avc run``) or in a worker process.

:func:`execute` marks the experiment running, streams its events into the registry, and records
how it ended: ``finished`` with its metrics and artifacts, ``cancelled`` (SIGTERM, Ctrl-C or
``avc cancel``; the last epoch's checkpoint is kept for ``avc resume``), or ``failed`` with the
error (the whole traceback for an unexpected one).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from avc_tui.formatting import stored_error
from avc_tui.registry import Placement, Registry, Status, now
from avc_tui.runner.recorder import RegistryRecorder
from avc_tui.runner.system import SystemSampler, device_for
from avc_tui.versions import package_versions
from core.devices import resolve_device
from core.errors import AvcError, resource_error
from core.events import EventCallback
from core.experiment import ExperimentResult, run_experiment
from core.run_folder import RunFolder

if TYPE_CHECKING:
    from core.data import Dataset

log = logging.getLogger(__name__)


def git_revision() -> str | None:
    """The avc checkout's commit, when avc runs from a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class StopFlag:
    """Set by SIGTERM/SIGINT or a registry cancel request; the engine polls it between steps."""

    def __init__(self, recorder: RegistryRecorder) -> None:
        self.recorder = recorder
        self.signalled = threading.Event()

    def __call__(self) -> bool:
        return self.signalled.is_set() or self.recorder.cancel_requested

    def handle(self, signum, _frame) -> None:
        self.signalled.set()


def execute(registry: Registry, experiment_id: int, *, resume: bool = False,
            callbacks: Sequence[EventCallback] = (), device: str | None = None,
            num_workers: int | None = None, skip_unreadable: bool = False,
            cache_dir: str | None = None, dataset: Dataset | None = None,
            placement: Placement | None = None) -> Status:
    """Run experiment ``experiment_id`` to its end; returns its final status.

    ``device`` overrides the configured one (the runner assigns devices); ``dataset``, already
    opened by the caller, is not scanned again; ``placement``: where this attempt runs.
    Expected failures are recorded, not raised; the caller reads them back from the registry.
    """
    row = registry.get(experiment_id)
    recorder = RegistryRecorder(registry, experiment_id)
    stop = StopFlag(recorder)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop.handle)
    try:
        config = registry.config(experiment_id)
        # A run lost before its first epoch ended has nothing to resume from: it starts over.
        resume = resume and RunFolder(row.run_dir).checkpoint.is_file()
        if device is not None:
            config = config.with_changes(train={"device": device})
        if not registry.mark_running(experiment_id,
                                     device=str(resolve_device(config.train.device)),
                                     versions=package_versions(),
                                     git_revision=git_revision(), placement=placement):
            return registry.get(experiment_id).status  # cancelled (or taken) while it waited
        recorder.sampler = _sampler(config.train.device)
        started = registry.get(experiment_id).started_at  # the first attempt's start
        if started is not None:  # system figures count seconds from there, over attempts
            recorder.since(max(0.0, (now() - started).total_seconds()))
        with recorder:
            result = run_experiment(config, run_dir=row.run_dir, cache_dir=cache_dir,
                                    callbacks=[recorder, *callbacks], should_stop=stop,
                                    resume=resume, num_workers=num_workers,
                                    skip_unreadable=skip_unreadable, dataset=dataset)
        _record_artifacts(registry, experiment_id, RunFolder(row.run_dir))
        if result.cancelled:
            registry.finish(experiment_id, Status.CANCELLED)
            log.info("experiment %d cancelled after epoch %d", experiment_id, result.epochs_run)
            return Status.CANCELLED
        registry.finish(experiment_id, Status.FINISHED, result=_summary(result))
        log.info("experiment %d finished", experiment_id)
        return Status.FINISHED
    except AvcError as error:
        registry.finish(experiment_id, Status.FAILED, error=stored_error(error))
        log.error("experiment %d failed: %s", experiment_id, error.message)
        return Status.FAILED
    except Exception as exc:  # noqa: BLE001 - an unexpected failure is stored with its traceback
        known = resource_error(exc)
        registry.finish(experiment_id, Status.FAILED,
                        error=stored_error(known) if known else traceback.format_exc())
        log.exception("experiment %d failed", experiment_id)
        return Status.FAILED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _sampler(device: str) -> SystemSampler | None:
    """What samples this run's CPU, memory and (on a GPU) the device's figures."""
    try:
        return SystemSampler(device_for(str(resolve_device(device))))
    except Exception:  # noqa: BLE001 - no figures rather than no run
        return None


def _summary(result: ExperimentResult) -> dict:
    body = result.to_dict()
    body.pop("history", None)  # the history is in the metric points
    return body


def _record_artifacts(registry: Registry, experiment_id: int, folder: RunFolder) -> None:
    for kind, path in folder.artifacts():
        if path.is_file():
            registry.add_artifact(experiment_id, kind, path)
