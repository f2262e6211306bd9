"""Which devices jobs run on: one job per GPU when GPUs exist, the CPU otherwise.

The assignment is plain data computed from a device list, so it is tested with simulated GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    """Where one concurrent job runs: the device string the worker uses and its environment."""

    name: str
    device: str
    env: dict[str, str] = field(default_factory=dict)


def available_devices() -> list[str]:
    """``["cuda:0", "cuda:1", …]`` for the visible GPUs, else ``["cpu"]``."""
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"]


def per_gpu(gpus_per_job: float | None) -> int:
    """How many jobs share one GPU when each takes ``gpus_per_job`` of it (0.25 → 4)."""
    if gpus_per_job is None or gpus_per_job >= 1:
        return 1
    return max(1, int(1 / gpus_per_job + 1e-9))


def plan_slots(devices: list[str], jobs: int | None = None, *, cores: int | None = None,
               gpus_per_job: float | None = None) -> list[Slot]:
    """``jobs`` slots over ``devices`` (default: one per GPU, or ``1 / gpus_per_job`` per GPU
    for a fraction, or one on the CPU).

    A GPU slot sees only its GPU (``CUDA_VISIBLE_DEVICES``), so every worker uses ``cuda:0``;
    more jobs than GPUs share them round robin: the first ``len(gpus)`` slots go one to each
    GPU, the next ones again. Slots split the host's cores between them: each gets its share as
    ``OMP_NUM_THREADS`` and ``AVC_CPUS`` (the CPUs its decoding workers follow).
    """
    gpus = [d for d in devices if d.startswith("cuda")]
    cores = cores or os.cpu_count() or 1
    if gpus and gpus_per_job is not None and gpus_per_job >= 2:
        return _multi_gpu_slots(gpus, int(gpus_per_job), jobs, cores)
    if gpus:
        count = jobs or len(gpus) * per_gpu(gpus_per_job)
        # Each job's share of the host's CPUs: its threads and its decoding workers.
        share = str(max(1, cores // count))
        slots = []
        for i in range(count):
            gpu = gpus[i % len(gpus)]
            index = gpu.split(":", 1)[1] if ":" in gpu else "0"
            slots.append(Slot(f"{gpu}#{i // len(gpus)}" if count > len(gpus) else gpu, "cuda:0",
                              {"CUDA_VISIBLE_DEVICES": index, "OMP_NUM_THREADS": share,
                               "AVC_CPUS": share}))
        return slots
    count = jobs or 1
    threads = str(max(1, cores // count))
    return [Slot(f"cpu#{i}" if count > 1 else "cpu", "cpu",
                 {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads, "AVC_CPUS": threads})
            for i in range(count)]


def _multi_gpu_slots(gpus: list[str], per_job: int, jobs: int | None, cores: int) -> list[Slot]:
    """Slots of ``per_job`` GPUs each (data-parallel jobs, ``--processes``): GPUs 0…k−1 for the
    first, k…2k−1 for the next; more jobs than groups share the groups round robin."""
    from core.errors import ConfigError

    groups = [gpus[i:i + per_job] for i in range(0, len(gpus) - per_job + 1, per_job)]
    if not groups:
        raise ConfigError(f"--gpus-per-job {per_job} needs {per_job} GPUs, and this host has "
                          f"{len(gpus)}", hint=f"pass --gpus-per-job {len(gpus)} or fewer")
    count = jobs or len(groups)
    share = str(max(1, cores // count))
    slots = []
    for i in range(count):
        group = groups[i % len(groups)]
        indexes = ",".join(g.split(":", 1)[1] if ":" in g else "0" for g in group)
        name = "+".join(group) + (f"#{i // len(groups)}" if count > len(groups) else "")
        slots.append(Slot(name, "cuda:0", {"CUDA_VISIBLE_DEVICES": indexes,
                                           "OMP_NUM_THREADS": share, "AVC_CPUS": share}))
    return slots
