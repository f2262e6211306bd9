"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings and lists only: the model and optimizer state,
the epoch, the metric history, RNG states, and the experiment config as a JSON string, so that
``avc predict`` needs nothing but the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_path
from core.errors import CheckpointError

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` via a temporary file and a rename; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; raises ``CheckpointError`` when it is missing or not avc's."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from exc
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise CheckpointError(f"{path} is not an avc checkpoint")
    if payload.get("format", 0) > CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} was written by a newer avc; upgrade avc")
    return payload
