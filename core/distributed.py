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

import contextlib
import datetime
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
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


class RankFailed(RuntimeError):
    """Another rank of the run failed (its exit status is in the message)."""


class _Watch:
    """What rank 0 knows of the other ranks: the first failure, and whether rank 0 is busy
    with work of its own (evaluation, checkpoints), when no collective of its can be stuck."""

    def __init__(self) -> None:
        self.failed = ""
        self.local = 0


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel run. ``control`` is the process group of the
    small collectives (flags, sums, gathers): gloo on the CPU even beside NCCL, so that they
    never wait on a GPU stream."""

    rank: int
    world_size: int
    control: Any = None
    watch: _Watch | None = None  # rank 0's

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _check(self) -> None:
        if self.watch is not None and self.watch.failed:
            raise RankFailed(f"data-parallel training failed: {self.watch.failed}")

    @contextlib.contextmanager
    def local_work(self) -> Iterator[None]:
        """Rank 0's own work (evaluation, checkpoints): a rank that fails meanwhile is
        reported at the next collective instead of ending this process."""
        if self.watch is None:
            yield
            return
        self.watch.local += 1
        try:
            yield
        finally:
            self.watch.local -= 1
        self._check()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` (already on ``device``) under DDP."""
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def step_flags(self, device: torch.device, out_of_data: bool, stop: bool
                   ) -> tuple[bool, bool]:
        """Whether any rank is out of batches, and whether rank 0 asks to stop: every rank
        gets the same answer, so they all take the next step or none does."""
        self._check()
        flags = torch.tensor([int(out_of_data), int(stop and self.is_main)])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.control)
        return bool(flags[0]), bool(flags[1])

    def decide(self, device: torch.device, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's ``flags``, on every rank."""
        self._check()
        values = torch.tensor([int(flag) for flag in flags])
        dist.broadcast(values, src=0, group=self.control)
        return tuple(bool(value) for value in values.tolist())

    def sum(self, device: torch.device, *values: float) -> list[float]:
        """``values`` summed over the ranks."""
        self._check()
        total = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=self.control)
        return total.tolist()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        self._check()
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value, group=self.control)
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


def _init(rank: int, world_size: int, rendezvous: str, device: torch.device,
          watch: _Watch | None = None) -> Distributed:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=rendezvous, rank=rank, world_size=world_size,
                            timeout=TIMEOUT)
    control = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend == "nccl" else None
    return Distributed(rank, world_size, control, watch)


def _rank_main(rank: int, world_size: int, rendezvous: str, device: torch.device,
               work: Callable[[Distributed, torch.device], Any], threads: int,
               parent: int) -> None:
    """A rank other than 0: join the group, run ``work``, leave; end with rank 0's process."""
    from core.lifeline import exit_with

    # Ctrl-C in a terminal reaches every process of the group: rank 0 saves and stops the
    # others in step; the rest end with rank 0 (their lifeline), never on their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(parent)
    torch.set_num_threads(threads)
    device = rank_device(device, rank)
    context = _init(rank, world_size, rendezvous, device)
    try:
        work(context, device)
    finally:
        dist.destroy_process_group()
    # Done: leave without the interpreter's teardown, during which a process-group thread still
    # winding down can abort the process ("terminate called without an active exception", -6)
    # and turn a finished run into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Supervisor:
    """Watches the other ranks from rank 0. The first to exit with an error is recorded (rank
    0's next collective raises :class:`RankFailed`); if rank 0 is still not done GRACE_SECONDS
    later and not busy with work of its own, it is stuck in a collective that will never return
    (NCCL does not notice a dead peer), and this process ends."""

    def __init__(self, others: list[multiprocessing.process.BaseProcess]) -> None:
        self.others, self.watch = others, _Watch()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="avc-ranks", daemon=True)

    @property
    def failed(self) -> str:
        return self.watch.failed

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.5):
            failed = _first_failure(self.others)
            if not failed:
                continue
            self.watch.failed = failed
            log.error("data-parallel training: %s; stopping", failed)
            while not self.done.wait(GRACE_SECONDS):
                if not self.watch.local:
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

    Raises :class:`RankFailed` naming the rank and its exit status when another rank fails (its
    traceback is in this job's log); rank 0's own error as it is (with a note of the others).
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
            group = _init(0, world_size, rendezvous, mine, supervisor.watch)
            try:
                result = main(group, mine)
            finally:
                dist.destroy_process_group()
        except Exception as error:
            for process in others:
                process.join(timeout=5)
            failed = supervisor.failed or _first_failure(others)
            if failed and _from_collective(error):
                raise RankFailed(f"data-parallel training failed: {failed}") from error
            if failed:  # rank 0's own error (the others ended with it): that is the news
                error.add_note(f"data-parallel training: {failed}")
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
        raise RankFailed(f"data-parallel training failed: {failed}")
    return result


def _from_collective(error: BaseException) -> bool:
    """Whether ``error`` came from the process group (a peer gone) rather than from rank 0's
    own work. gloo reports a vanished peer as a plain RuntimeError."""
    if isinstance(error, (RankFailed, dist.DistError)):
        return True
    text = str(error)
    return any(sign in text for sign in ("Connection closed by peer", "Connection reset by peer",
                                         "NCCL", "gloo"))


def _first_failure(others: list[multiprocessing.process.BaseProcess]) -> str:
    for rank, process in enumerate(others, start=1):
        if process.exitcode not in (None, 0):
            return f"rank {rank} exited with status {process.exitcode}"
    return ""
