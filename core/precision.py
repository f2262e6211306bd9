"""Numeric precision of the CNN forward pass and of training: ``fp32``, ``bf16`` or ``fp16``
autocast, or ``auto``: float16 on CUDA, bfloat16 on CPUs with native bfloat16 matrix
instructions (AVX512-BF16 or AMX on x86, BF16 on Arm), float32 otherwise.

The config records what was asked for (``auto`` stays ``auto``, so that a config means the same
experiment on every machine); the feature cache and a run's result record what it resolved to,
so features of different precision never mix.
"""

from __future__ import annotations

import functools
import platform
from contextlib import AbstractContextManager
from pathlib import Path

import torch

from core.choices import PRECISIONS, check_precision

__all__ = ["PRECISIONS", "autocast", "check_precision", "native_cpu_bf16", "resolve_precision"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# CPU flags (as /proc/cpuinfo names them) of native bfloat16 matrix arithmetic.
BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


@functools.lru_cache(maxsize=1)
def native_cpu_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix instructions (read from ``/proc/cpuinfo``
    on Linux; False where the system does not say)."""
    if platform.system() != "Linux":
        return False
    try:
        return cpuinfo_has_bf16(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


def cpuinfo_has_bf16(cpuinfo: str) -> bool:
    """Whether the first CPU that ``/proc/cpuinfo``'s text describes lists a bf16 flag (x86's
    ``flags``, Arm's ``Features``)."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return bool(BF16_FLAGS & set(value.split()))
    return False


def resolve_precision(precision: str, device: torch.device, *, fp16_safe: bool = True) -> str:
    """The precision ``precision`` means on ``device``: ``auto`` becomes fp16 on CUDA (bf16
    instead when ``fp16_safe`` is False: activations may pass float16's range, as in a
    random-weight trunk; fp32 where the GPU has no bf16), bf16 on a CPU with native bf16,
    else fp32. An explicit choice stays as it is. Raises ``ConfigError`` for an unknown name."""
    check_precision(precision)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        if fp16_safe:
            return "fp16"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and native_cpu_bf16():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """The autocast context of a resolved ``precision`` on ``device`` (off for fp32)."""
    return torch.autocast(device.type, dtype=DTYPES[precision], enabled=precision != "fp32")
