"""Which torch device the engine runs on: ``auto`` means the first CUDA device when there is one,
else the CPU. Extraction, training and prediction all resolve the user's choice here."""

from __future__ import annotations

import os

import torch


def resolve_device(device: str = "auto") -> torch.device:
    """Return the device ``device`` names: ``auto`` → ``cuda`` when present, else ``cpu``; any
    other name (``cpu``, ``cuda``, ``cuda:1``) as given. Raises ``RuntimeError`` for a name torch
    does not know."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def physical_memory() -> int | None:
    """Bytes of RAM in this machine; None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
