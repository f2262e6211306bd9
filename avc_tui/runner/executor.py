"""Executors start job workers. One small interface, so that a cluster engine can be added beside
the local one: ``submit(job) → handle`` with ``poll()``, ``wait()`` and ``terminate()``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from avc_tui.runner.devices import Slot

# A worker's exit status when another worker started its experiment first (a resume racing a
# grid that still had it queued): that other worker owns the experiment's state.
EXIT_TAKEN = 75


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs its experiment: decoding processes, feature cache, unreadable videos."""

    workers: int | None = None
    cache_dir: Path | None = None
    skip_unreadable: bool = False

    def args(self) -> list[str]:
        """The worker command line's options (``python -m avc_tui.runner.worker``)."""
        args = []
        if self.workers is not None:
            args += ["--workers", str(self.workers)]
        if self.cache_dir is not None:
            args += ["--cache-dir", str(Path(self.cache_dir).resolve())]
        if self.skip_unreadable:
            args.append("--skip-unreadable")
        return args

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Declare the options of :meth:`args` on a worker's (or batch runner's) parser."""
        parser.add_argument("--workers", type=int, default=None)
        parser.add_argument("--cache-dir", default=None)
        parser.add_argument("--skip-unreadable", action="store_true")

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> WorkerOptions:
        return cls(args.workers, Path(args.cache_dir) if args.cache_dir else None,
                   args.skip_unreadable)


@dataclass(frozen=True)
class Job:
    """One registered experiment to run in ``slot``; ``log`` receives the worker's output.

    ``features``: the :func:`~core.config.features_key` of its cached features (an executor
    that extracts once per key, ahead of the jobs, groups them by it); ``extract_only``: the
    job only fills the feature cache for the experiment.
    """

    experiment_id: int
    db_url: str
    slot: Slot
    log: Path
    resume: bool = False
    options: list[str] = field(default_factory=list)
    features: str | None = None
    extract_only: bool = False

    def command(self) -> list[str]:
        """The worker's command line, with this process's Python (on a Ray node: the node's)."""
        cmd = [sys.executable, "-m", "avc_tui.runner.worker", str(self.experiment_id),
               "--db", self.db_url, "--device", self.slot.device, *self.options]
        if self.extract_only:
            return [*cmd, "--extract-only"]
        return [*cmd, "--resume"] if self.resume else cmd


class JobHandle(Protocol):
    """A started job. ``poll`` and ``wait`` give the worker's exit status; ``ended`` tells why a
    worker ended without its own word (its node died: ``("lost", reason)``), or None."""

    job: Job

    def poll(self) -> int | None: ...

    def ended(self) -> tuple[str, str] | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...


class Executor(Protocol):
    """Starts jobs. ``name`` is recorded with each attempt (``local``, ``ray``)."""

    name: str

    def submit(self, job: Job) -> JobHandle: ...


class LocalProcess:
    """A worker running as a local process."""

    def __init__(self, job: Job, process: subprocess.Popen) -> None:
        self.job = job
        self.process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def ended(self) -> tuple[str, str] | None:
        return None  # a local worker that died is explained by its exit status

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def terminate(self) -> None:
        """Ask the worker to stop: it saves, marks the run cancelled and exits."""
        if self.process.poll() is None:
            self.process.terminate()

    def reap_when_done(self) -> None:
        """Collect the worker's exit status in the background once it ends, for a caller that
        lives on without waiting for it (the TUI): a dead worker never lingers as a zombie."""
        threading.Thread(target=self.process.wait, daemon=True,
                         name=f"avc-reap-{self.pid}").start()


class LocalExecutor:
    """Runs each job as ``python -m avc_tui.runner.worker`` in its own session, so a detached
    worker outlives the command that started it and a Ctrl-C in that terminal does not reach it."""

    name = "local"

    def submit(self, job: Job) -> LocalProcess:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **job.slot.env}
        with open(job.log, "ab") as log:
            process = subprocess.Popen(job.command(), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        return LocalProcess(job, process)
