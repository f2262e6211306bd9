"""System metrics of a run, as MLflow, W&B and Aim record them: the worker's CPU use and memory
(its decoding processes included) and, on a GPU, the device's utilisation, memory in use and
temperature. The GPU part reads NVML (``nvidia-ml-py``) and is left out, silently, where NVML is
absent (no driver, no GPU, a CPU run).

They are stored as metric points of the split ``system``: ``step`` is seconds since the run
started, so they chart against time.
"""

from __future__ import annotations

import os
from typing import Any

import psutil

SPLIT = "system"
CPU, RSS = "cpu_percent", "rss_mb"
GPU_UTIL, GPU_MEMORY, GPU_TEMPERATURE = "gpu_util_percent", "gpu_memory_mb", "gpu_temperature_c"
SYSTEM_KEYS = (CPU, RSS, GPU_UTIL, GPU_MEMORY, GPU_TEMPERATURE)
LABELS = {CPU: "CPU %", RSS: "memory MB", GPU_UTIL: "GPU %", GPU_MEMORY: "GPU memory MB",
          GPU_TEMPERATURE: "GPU °C"}
MB = 2 ** 20


class SystemSampler:
    """Samples this process and its children (decoding workers); with ``gpu`` (a physical
    device index or UUID) that GPU too. The first CPU figure covers the time since it was made.
    """

    def __init__(self, gpu: str | None = None, *, pid: int | None = None) -> None:
        self.process = psutil.Process(pid or os.getpid())
        self.process.cpu_percent(None)
        self._children: dict[int, psutil.Process] = {}
        self.gpu = _nvml_device(gpu) if gpu is not None else None

    def sample(self) -> dict[str, float]:
        """The current values, by key (the GPU keys only when a GPU is watched)."""
        cpu, rss = self.process.cpu_percent(None), self.process.memory_info().rss
        alive = {}
        for child in self.process.children(recursive=True):
            known = self._children.get(child.pid, child)
            try:
                if known is child:  # new: its first figure only starts its clock
                    child.cpu_percent(None)
                else:
                    cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
            except psutil.Error:  # ended meanwhile
                continue
            alive[child.pid] = known
        self._children = alive
        values = {CPU: cpu, RSS: rss / MB}
        if self.gpu is not None:
            values.update(_gpu_values(*self.gpu))
        return values


def device_for(device: str) -> str | None:
    """The physical GPU that a worker on ``device`` uses, as NVML names it: its UUID as
    PyTorch reports it (NVML numbers devices in PCI order, CUDA fastest first), else the
    entry of ``CUDA_VISIBLE_DEVICES`` or the index in ``cuda:N``; None on the CPU."""
    if not device.startswith("cuda"):
        return None
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    uuid = _torch_uuid(index)
    if uuid is not None:
        return uuid
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
               if v.strip()]
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None:
        return str(index)
    return visible[index] if index < len(visible) else None


def _torch_uuid(index: int) -> str | None:
    """``GPU-…``: the UUID of PyTorch's device ``index``, when PyTorch sees a GPU."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        return f"GPU-{torch.cuda.get_device_properties(index).uuid}"
    except Exception:  # noqa: BLE001 - an older PyTorch, a device that went away
        return None


def _nvml_device(gpu: str) -> tuple[Any, Any] | None:
    """(the NVML module, the device's handle), or None when NVML cannot be used."""
    try:
        import pynvml

        pynvml.nvmlInit()
        if gpu.isdigit():
            return pynvml, pynvml.nvmlDeviceGetHandleByIndex(int(gpu))
        return pynvml, pynvml.nvmlDeviceGetHandleByUUID(gpu)
    except Exception:  # noqa: BLE001 - no package, no driver, no such device: no GPU figures
        return None


def _gpu_values(nvml: Any, handle: Any) -> dict[str, float]:
    """The figures the device gives: one it does not (utilisation of a MIG slice, the
    temperature of a virtual GPU) is left out, not the others."""
    readers = {
        GPU_UTIL: lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        GPU_MEMORY: lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / MB,
        GPU_TEMPERATURE: lambda: float(nvml.nvmlDeviceGetTemperature(
            handle, nvml.NVML_TEMPERATURE_GPU)),
    }
    values = {}
    for key, read in readers.items():
        try:
            values[key] = read()
        except Exception:  # noqa: BLE001 - not supported here, or stopped answering
            continue
    return values


def summarize(points: Any) -> dict[str, dict[str, float]]:
    """Peak and mean of each system key among metric points (``.split``, ``.key``,
    ``.value``), in :data:`SYSTEM_KEYS` order."""
    values: dict[str, list[float]] = {}
    for p in points:
        if p.split == SPLIT:
            values.setdefault(p.key, []).append(p.value)
    return {key: {"peak": max(values[key]), "mean": sum(values[key]) / len(values[key]),
                  "samples": len(values[key])}
            for key in SYSTEM_KEYS if values.get(key)}
