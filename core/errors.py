"""The one error hierarchy of avc: every expected failure is an :class:`AvcError` with a hint.

A raise site gives the hint that fits its case; one that gives none gets its class's
``default_hint``, so that every error a user sees says what to do next.
"""

from __future__ import annotations

import errno


class AvcError(Exception):
    """An expected failure with a one-line message and a hint on what to do."""

    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class VideoDecodeError(AvcError):
    """A video file could not be opened or decoded; the message names the file."""

    default_hint = "check the path, and that the file plays; re-encode or remove it"


class DatasetLayoutError(AvcError):
    """A dataset folder or annotation file does not have the expected layout, or videos are missing."""

    default_hint = ("check the folder and --layout (the README's Datasets section shows each "
                    "layout); `avc data info ROOT` shows what avc reads there")


class WeightsUnavailable(AvcError):
    """Pretrained weights were asked for but are not available offline."""

    default_hint = "pass --weights none (seeded random weights) or --weights FILE (a state dict)"


class ConfigError(AvcError):
    """An experiment configuration is invalid (unknown name, out-of-range value, …)."""

    default_hint = "`avc run --help` lists every option and its accepted values"


class CheckpointError(AvcError):
    """A checkpoint file is missing, unreadable or does not match what it is loaded into."""

    default_hint = ("pass an experiment id (`avc ls` lists them), its run folder, or the best.pt "
                    "or checkpoint.pt that avc wrote there")


class FeatureCacheError(AvcError):
    """The feature cache is missing an entry or holds an unreadable one."""

    default_hint = "run again: missing or damaged cache entries are extracted anew"


class ResourceError(AvcError):
    """The machine ran out of something a run needs: disk space or memory."""


def resource_error(exc: BaseException) -> ResourceError | None:
    """The :class:`ResourceError` that ``exc`` stands for (a full disk or quota, no memory left),
    or None for any other exception."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return ResourceError(f"the disk is full{where}",
                             hint="free some space (or set $AVC_CACHE_DIR and --out to a larger "
                                  "disk), then run again: extracted features and checkpoints "
                                  "are whole or absent, never half-written")
    names = {cls.__name__ for cls in type(exc).__mro__}
    # torch's OutOfMemoryError (CUDA) without importing torch; its CPU allocator raises a plain
    # RuntimeError.
    cpu = isinstance(exc, RuntimeError) and any(
        text in str(exc) for text in ("DefaultCPUAllocator", "Cannot allocate memory",
                                      "can't allocate memory"))
    if "MemoryError" in names or "OutOfMemoryError" in names or cpu:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        return ResourceError(f"out of memory{': ' + first if first else ''}",
                             hint="use a smaller --batch-size, smaller -o sizes (e.g. hidden) or "
                                  "fewer --workers")
    return None
