"""The one error hierarchy of avc: every expected failure is an :class:`AvcError` with a hint."""

from __future__ import annotations


class AvcError(Exception):
    """An expected failure with a one-line message and, optionally, a hint on what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class VideoDecodeError(AvcError):
    """A video file could not be opened or decoded; the message names the file."""


class DatasetLayoutError(AvcError):
    """A dataset folder or annotation file does not have the expected layout, or videos are missing."""


class WeightsUnavailable(AvcError):
    """Pretrained weights were asked for but are not available offline."""


class ConfigError(AvcError):
    """An experiment configuration is invalid (unknown name, out-of-range value, …)."""


class CheckpointError(AvcError):
    """A checkpoint file is missing, unreadable or does not match what it is loaded into."""


class FeatureCacheError(AvcError):
    """The feature cache is missing an entry or holds an unreadable one."""
