"""Executors start job workers. One small interface, so that a cluster engine can be added beside
the local one: ``submit(job) → handle`` with ``poll()``, ``wait()`` and ``terminate()``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from avc_tui.runner.devices import Slot


@dataclass(frozen=True)
class Job:
    """One registered experiment to run in ``slot``; ``log`` receives the worker's output."""

    experiment_id: int
    db_url: str
    slot: Slot
    log: Path
    resume: bool = False
    options: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "avc_tui.runner.worker", str(self.experiment_id),
               "--db", self.db_url, "--device", self.slot.device, *self.options]
        return [*cmd, "--resume"] if self.resume else cmd


class JobHandle(Protocol):
    job: Job

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...


class Executor(Protocol):
    def submit(self, job: Job) -> JobHandle: ...


class LocalProcess:
    """A worker running as a local process."""

    def __init__(self, job: Job, process: subprocess.Popen) -> None:
        self.job = job
        self.process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def terminate(self) -> None:
        """Ask the worker to stop: it saves, marks the run cancelled and exits."""
        if self.process.poll() is None:
            self.process.terminate()


class LocalExecutor:
    """Runs each job as ``python -m avc_tui.runner.worker`` in its own session, so a detached
    worker outlives the command that started it and a Ctrl-C in that terminal does not reach it."""

    def submit(self, job: Job) -> LocalProcess:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **job.slot.env}
        with open(job.log, "ab") as log:
            process = subprocess.Popen(job.command(), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        return LocalProcess(job, process)
