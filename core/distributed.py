"""Data-parallel training of one head over several processes (``torch.distributed``, DDP).

``--processes N`` trains one experiment in N processes on one host: one per GPU (NCCL), or N CPU
processes (gloo). The process that runs the experiment is rank 0; it starts ranks 1…N−1 (spawned
Python processes running :func:`_rank_main`) and trains beside them. What each rank does:

- it reads its own share of the training stream: the shards are dealt out over ``ranks ×
  DataLoader workers`` readers (:mod:`core.data.yt8m_stream`), so no record is read twice;
- the batch size is the global one: each rank takes ``batch_size / N`` videos a step, and DDP
  averages the gradients, so a step sees as many videos as a one-process step. Batch norm
  normalises each rank's batch with its own statistics, as the NeXtVLAD paper's two towers did
  (80 videos × 2 GPUs); the running statistics kept for evaluation are rank 0's (DDP broadcasts
  them);
- the ranks step in lockstep: before every step they agree (one small all-reduce) that every
  rank has a batch and that rank 0 was not asked to stop. An epoch ends when the first rank runs
  out of batches: the others' last few batches of that epoch are left out (at most the
  difference between two ranks' shares; the shard order changes every epoch). So every rank
  takes every optimiser step, and a cancel takes effect at the next step;
- rank 0 alone evaluates, writes checkpoints and metrics, and reports events; after each epoch
  it tells the others whether to go on (early stopping, a cancel). The epoch's training loss and
  accuracy are summed over the ranks.

Against one process on the same data, the differences are of order only: which videos share a
step (each rank shuffles its own readers' records), per-rank batch norm statistics, each rank's
dropout draws, and the tail batches left out of an epoch.

Failures: the other ranks end with rank 0 (they watch its pid), and rank 0 watches them: when
one exits with an error, rank 0 fails the run with that rank's exit status (or, when a
collective of NCCL would never return, ends its own process after a grace period) instead of
waiting for a collective's timeout.
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)

# Rank 0 evaluates a whole validation set while the other ranks wait for its word: allow it.
TIMEOUT = datetime.timedelta(hours=4)
# How long rank 0 lets a collective raise by itself after another rank failed.
GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` (already on ``device``) under DDP."""
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def _tensor(self, values: list[float], device: torch.device,
                dtype: torch.dtype = torch.int64) -> torch.Tensor:
        # NCCL reduces CUDA tensors only; gloo CPU ones.
        return torch.tensor(values, dtype=dtype,
                            device=device if device.type == "cuda" else "cpu")

    def step_flags(self, device: torch.device, out_of_data: bool, stop: bool
                   ) -> tuple[bool, bool]:
        """Whether any rank is out of batches, and whether rank 0 asks to stop: every rank
        gets the same answer, so they all take the next step or none does."""
        flags = self._tensor([int(out_of_data), int(stop and self.is_main)], device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

    def decide(self, device: torch.device, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's ``flags``, on every rank."""
        values = self._tensor([int(flag) for flag in flags], device)
        dist.broadcast(values, src=0)
        return tuple(bool(value) for value in values.tolist())

    def sum(self, device: torch.device, *values: float) -> list[float]:
        """``values`` summed over the ranks."""
        total = self._tensor(list(values), device, torch.float64)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total.tolist()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out


def rank_device(device: torch.device, rank: int) -> torch.device:
    """Rank ``rank``'s device: the GPU ``rank`` places after the configured one, or the CPU."""
    if device.type == "cuda":
        return torch.device("cuda", (device.index or 0) + rank)
    return device


def check_devices(world_size: int, device: torch.device) -> None:
    """Raise ``ConfigError`` when ``world_size`` processes cannot each have a GPU."""
    from core.errors import ConfigError

    first = device.index or 0
    if device.type == "cuda" and torch.cuda.device_count() < first + world_size:
        raise ConfigError(f"{world_size} processes from cuda:{first} need GPUs up to "
                          f"cuda:{first + world_size - 1}, and this job sees "
                          f"{torch.cuda.device_count()}",
                          hint="pass --processes at most the number of GPUs, give the job as "
                               "many (--gpus-per-job N), or --device cpu for gloo processes")


def _init(rank: int, world_size: int, rendezvous: str, device: torch.device) -> Distributed:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=rendezvous, rank=rank, world_size=world_size,
                            timeout=TIMEOUT)
    return Distributed(rank, world_size)


def _rank_main(rank: int, world_size: int, rendezvous: str, device: torch.device,
               work: Callable[[Distributed, torch.device], Any], threads: int,
               parent: int) -> None:
    """A rank other than 0: join the group, run ``work``, leave; end with rank 0's process."""
    from core.lifeline import exit_with

    exit_with(parent)
    torch.set_num_threads(threads)
    device = rank_device(device, rank)
    context = _init(rank, world_size, rendezvous, device)
    try:
        work(context, device)
    finally:
        dist.destroy_process_group()


class _Supervisor:
    """Watches the other ranks from rank 0: the first to exit with an error is recorded; if the
    run has not ended GRACE_SECONDS later (a collective that never returns), this process ends."""

    def __init__(self, others: list[multiprocessing.process.BaseProcess]) -> None:
        self.others, self.failed = others, ""
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="avc-ranks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.5):
            for rank, process in enumerate(self.others, start=1):
                if process.exitcode not in (None, 0):
                    self.failed = f"rank {rank} exited with status {process.exitcode}"
                    log.error("data-parallel training: %s; stopping", self.failed)
                    if not self.done.wait(GRACE_SECONDS):
                        log.error("rank 0 is still waiting on the others after %.0f s: ending "
                                  "this process", GRACE_SECONDS)
                        os._exit(1)
                    return


def run_data_parallel(world_size: int, device: torch.device,
                      work: Callable[[Distributed, torch.device], Any],
                      main: Callable[[Distributed, torch.device], Any]) -> Any:
    """Run ``main(context, device)`` here as rank 0 and ``work(context, device)`` in
    ``world_size - 1`` spawned processes; returns ``main``'s result. ``work`` must pickle (a
    module-level function or a partial of one): the other ranks rebuild their model and data
    from it; ``main`` keeps this process's callbacks.

    Raises ``RuntimeError`` naming the rank and its exit status when another rank fails (its
    traceback is in this job's log).
    """
    check_devices(world_size, device)
    threads = max(1, torch.get_num_threads() // world_size)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="avc-ddp-") as folder:
        rendezvous = Path(folder, "rendezvous").as_uri()
        # Not daemonic: a rank's stream starts DataLoader workers of its own.
        others = [context.Process(target=_rank_main, name=f"avc-rank-{rank}",
                                  args=(rank, world_size, rendezvous, device, work, threads,
                                        os.getpid()))
                  for rank in range(1, world_size)]
        for process in others:
            process.start()
        supervisor = _Supervisor(others)
        supervisor.start()
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            mine = rank_device(device, 0)
            group = _init(0, world_size, rendezvous, mine)
            try:
                result = main(group, mine)
            finally:
                dist.destroy_process_group()
        except Exception as error:
            for process in others:
                process.join(timeout=5)
            failed = supervisor.failed or _first_failure(others)
            if failed:
                raise RuntimeError(f"data-parallel training failed: {failed}") from error
            raise
        finally:
            supervisor.done.set()
            torch.set_num_threads(previous)
            for process in others:
                process.join(timeout=60)
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=10)
    failed = _first_failure(others)
    if failed:
        raise RuntimeError(f"data-parallel training failed: {failed}")
    return result


def _first_failure(others: list[multiprocessing.process.BaseProcess]) -> str:
    for rank, process in enumerate(others, start=1):
        if process.exitcode not in (None, 0):
            return f"rank {rank} exited with status {process.exitcode}"
    return ""
