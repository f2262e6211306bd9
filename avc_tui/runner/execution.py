"""How a batch of jobs runs: on which executor (local processes or Ray), with how much of a GPU
and how many CPUs each, and how often a lost run is retried. One value that the CLI, the TUI's
launch form and the detached batch runner pass along (:meth:`Execution.args`)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from avc_tui.runner.devices import Slot, available_devices, plan_slots
from avc_tui.runner.executor import Executor, LocalExecutor
from core.errors import ConfigError

EXECUTORS = ("local", "ray")
MIN_GPU_SHARE = 0.01  # at most a hundred jobs on one GPU


@dataclass(frozen=True)
class Execution:
    """``executor``: ``local`` or ``ray``; ``address``: the Ray cluster to join (``auto``,
    ``HOST:PORT``; none starts Ray here); ``gpus_per_job``: the share of a GPU a job takes
    (0.25: four jobs share a GPU; 0: the CPU; default one GPU, or the CPU where there is none);
    ``cpus_per_job``: the CPUs a Ray job reserves; ``retries``: how often a lost run is resumed
    on another attempt; ``device``: the one device local jobs use (``cpu``, ``cuda:1``), else
    they are spread over the devices. Raises ``ConfigError`` for values out of range."""

    executor: str = "local"
    address: str | None = None
    gpus_per_job: float | None = None
    cpus_per_job: float = 1.0
    retries: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}",
                              hint=f"choose one of: {', '.join(EXECUTORS)}")
        if self.address and self.executor != "ray":
            raise ConfigError("--address names a Ray cluster", hint="add --executor ray")
        g = self.gpus_per_job
        if g is not None and not (g == 0 or MIN_GPU_SHARE <= g <= 1
                                  or (math.isfinite(g) and g > 1 and g.is_integer())):
            # A job uses one GPU, a share of one, or (data-parallel, --processes N) N whole GPUs.
            raise ConfigError(f"--gpus-per-job {g:g} is not a share of one GPU nor a whole "
                              f"number of GPUs",
                              hint="e.g. 0.25 (four jobs per GPU), 1, or 2 for jobs that train "
                                   "in two processes (--processes 2); 0 for the CPU")
        if not (math.isfinite(self.cpus_per_job) and self.cpus_per_job > 0):
            raise ConfigError(f"--cpus-per-job {self.cpus_per_job:g} must be above 0",
                              hint="e.g. 1 or 4")
        if self.executor == "local" and self.cpus_per_job != 1:
            raise ConfigError("--cpus-per-job reserves a Ray node's CPUs",
                              hint="add --executor ray; local jobs share the cores evenly "
                                   "(--jobs)")
        if self.retries < 0:
            raise ConfigError(f"--retries {self.retries} must be 0 or more", hint="e.g. 2")
        if self.device not in (None, "auto") and self.executor == "ray":
            raise ConfigError("with --executor ray, Ray chooses each job's device",
                              hint="leave out --device; --gpus-per-job 0 runs jobs on the CPU")

    def start(self, db_url: str) -> Executor:
        """The executor, started (Ray: initialised or joined). Raises ``ConfigError``."""
        if self.executor == "ray":
            from avc_tui.runner.ray_executor import RayExecutor

            return RayExecutor(db_url=db_url, address=self.address,
                               gpus_per_job=self.gpus_per_job, cpus_per_job=self.cpus_per_job)
        return LocalExecutor()

    def slots(self, executor: Executor, count: int, jobs: int | None = None) -> list[Slot]:
        """Where ``count`` jobs run: on Ray, all handed over at once (or ``jobs`` at a time);
        locally, one per GPU (or ``1 / gpus_per_job``), ``jobs``, or one on the CPU."""
        ray_slots = getattr(executor, "slots", None)
        if ray_slots is not None:
            return ray_slots(jobs or count)
        if self.device not in (None, "auto"):  # one device asked for: every job on it
            if self.device == "cpu":
                return plan_slots(["cpu"], jobs)
            return [Slot(f"{self.device}#{i}", self.device, {}) for i in range(jobs or 1)]
        devices = ["cpu"] if self.gpus_per_job == 0 else available_devices()
        return plan_slots(devices, jobs, gpus_per_job=self.gpus_per_job)

    def args(self) -> list[str]:
        """The batch runner's command-line options for this execution."""
        args = ["--executor", self.executor, "--cpus-per-job", f"{self.cpus_per_job:g}",
                "--retries", str(self.retries)]
        if self.address:
            args += ["--address", self.address]
        if self.gpus_per_job is not None:
            args += ["--gpus-per-job", f"{self.gpus_per_job:g}"]
        if self.device is not None:
            args += ["--device", self.device]
        return args

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--executor", default="local", choices=EXECUTORS)
        parser.add_argument("--address", default=None)
        parser.add_argument("--gpus-per-job", type=float, default=None)
        parser.add_argument("--cpus-per-job", type=float, default=1.0)
        parser.add_argument("--retries", type=int, default=0)
        parser.add_argument("--device", default=None)

    @classmethod
    def from_arguments(cls, args: Any) -> Execution:
        return cls(args.executor, args.address, args.gpus_per_job, args.cpus_per_job,
                   args.retries, args.device)
