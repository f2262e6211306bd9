"""Events the engine reports while it works, and the callback interface that receives them.

``core`` never prints, logs to a database or draws anything: it calls each callback with one of the
small frozen dataclasses below. The CLI renders them with Rich; the registry stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExtractionStarted:
    backbone: str
    total_videos: int
    cached_videos: int


@dataclass(frozen=True)
class VideoExtracted:
    done: int
    total: int
    path: str
    frames: int
    cached: bool
    error: str | None = None


@dataclass(frozen=True)
class ExtractionFinished:
    backbone: str
    total_videos: int
    extracted: int
    cached: int
    failed: int
    frames: int
    seconds: float


@dataclass(frozen=True)
class TrainingStarted:
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    train_videos: int
    val_videos: int
    parameters: int


@dataclass(frozen=True)
class StepFinished:
    epoch: int
    step: int
    global_step: int
    steps_per_epoch: int
    loss: float
    accuracy: float
    batch_size: int


@dataclass(frozen=True)
class EpochFinished:
    epoch: int
    epochs: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    is_best: bool = False


@dataclass(frozen=True)
class CheckpointSaved:
    epoch: int
    path: str


@dataclass(frozen=True)
class TrainingFinished:
    epochs_run: int
    stopped_early: bool
    cancelled: bool
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunWarning:
    """Something about the run that makes its numbers suspect without stopping it; also kept in
    the run's result (``warnings``)."""

    message: str


Event = (
    ExtractionStarted | VideoExtracted | ExtractionFinished | TrainingStarted | StepFinished
    | EpochFinished | CheckpointSaved | TrainingFinished | RunWarning
)
EventCallback = Callable[[Event], None]


def emit(callbacks: Iterable[EventCallback], event: Event) -> None:
    """Hand ``event`` to every callback, in order."""
    for callback in callbacks:
        callback(event)
