"""Data-parallel training of one head over several processes (``torch.distributed``, DDP).

``--processes N`` trains one experiment in N processes on one host: one per GPU (NCCL), or N CPU
processes (gloo). The process that runs the experiment is rank 0; it starts ranks 1…N−1 (spawned
Python processes running :func:`_rank_main`) and trains beside them. What each rank does:

- it reads its own share of the training stream: the shards are dealt out over ``ranks ×
  DataLoader workers`` readers (:mod:`core.data.yt8m_stream`), so no record is read twice;
- the batch size is the global one: each rank takes ``batch_size / N`` videos a step, and DDP
  averages the gradients, so a step sees as many videos as a one-process step. Batch norm keeps
  per-rank statistics, as the NeXtVLAD paper's two towers did (80 videos × 2 GPUs);
- ranks may run out of records at different steps (shards differ in size): DDP's ``join``
  lets the ones that finish first shadow the others' gradient reductions;
- rank 0 alone evaluates, writes checkpoints and metrics, and reports events; after each epoch
  it tells the others whether to go on (early stopping, a cancel).

Against one process on the same data, the differences are of order only: which videos share a
step (each rank shuffles its own readers' records), per-rank batch norm statistics, and each
rank's last partial batch. The logged training loss and accuracy are rank 0's share.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import multiprocessing
import os
import tempfile
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

    @contextlib.contextmanager
    def uneven(self, net: nn.Module) -> Iterator[None]:
        """An epoch in which ranks may run out of batches at different steps."""
        from torch.distributed.algorithms.join import Join

        with Join([net]):
            yield

    def decide(self, device: torch.device, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's ``flags``, on every rank."""
        values = torch.tensor([int(flag) for flag in flags], dtype=torch.int32,
                              device=device if device.type == "cuda" else "cpu")
        dist.broadcast(values, src=0)
        return tuple(bool(value) for value in values.tolist())


def rank_device(device: torch.device, rank: int) -> torch.device:
    """Rank ``rank``'s device: its own GPU, or the CPU."""
    if device.type == "cuda":
        return torch.device("cuda", rank)
    return device


def check_devices(world_size: int, device: torch.device) -> None:
    """Raise ``ConfigError`` when ``world_size`` processes cannot each have a GPU."""
    from core.errors import ConfigError

    if device.type == "cuda" and torch.cuda.device_count() < world_size:
        raise ConfigError(f"{world_size} processes need {world_size} GPUs, and this job sees "
                          f"{torch.cuda.device_count()}",
                          hint="pass --processes at most the number of GPUs (or --device cpu "
                               "for gloo processes on the CPU)")


def _init(rank: int, world_size: int, rendezvous: str, device: torch.device) -> Distributed:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=rendezvous, rank=rank, world_size=world_size,
                            timeout=TIMEOUT)
    return Distributed(rank, world_size)


def _rank_main(rank: int, world_size: int, rendezvous: str, device: torch.device,
               work: Callable[[Distributed, torch.device], Any], threads: int) -> None:
    """A rank other than 0: join the group, run ``work``, leave."""
    torch.set_num_threads(threads)
    device = rank_device(device, rank)
    context = _init(rank, world_size, rendezvous, device)
    try:
        work(context, device)
    finally:
        dist.destroy_process_group()


def run_data_parallel(world_size: int, device: torch.device,
                      work: Callable[[Distributed, torch.device], Any],
                      main: Callable[[Distributed, torch.device], Any]) -> Any:
    """Run ``main(context, device)`` here as rank 0 and ``work(context, device)`` in
    ``world_size - 1`` spawned processes; returns ``main``'s result. ``work`` must pickle (a
    module-level function or a partial of one): the other ranks rebuild their model and data
    from it; ``main`` keeps this process's callbacks.

    Raises ``RuntimeError`` when another rank fails (its exit status is in the message; its
    traceback is in this job's log).
    """
    check_devices(world_size, device)
    threads = max(1, torch.get_num_threads() // world_size)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="avc-ddp-") as folder:
        rendezvous = Path(folder, "rendezvous").as_uri()
        others = [context.Process(target=_rank_main, name=f"avc-rank-{rank}", daemon=True,
                                  args=(rank, world_size, rendezvous, device, work, threads))
                  for rank in range(1, world_size)]
        for process in others:
            process.start()
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            mine = rank_device(device, 0)
            group = _init(0, world_size, rendezvous, mine)
            try:
                result = main(group, mine)
            finally:
                dist.destroy_process_group()
        except BaseException:
            for process in others:
                if process.is_alive():
                    process.terminate()
            raise
        finally:
            torch.set_num_threads(previous)
            for process in others:
                process.join(timeout=60)
    failed = [f"rank {rank} exited with status {process.exitcode}"
              for rank, process in enumerate(others, start=1) if process.exitcode]
    if failed:
        raise RuntimeError("data-parallel training failed: " + "; ".join(failed))
    log.info("data-parallel training: %d processes on %s (pid %d)", world_size, device.type,
             os.getpid())
    return result
