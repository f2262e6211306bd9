"""An engine event callback that streams an experiment's progress into the registry.

Metric points are buffered and written in one transaction about once a second (not one per
point); every write doubles as a heartbeat and tells whether a cancel was requested. A background
thread keeps the heartbeat going while the engine is busy in a long step (a slow video, a big
epoch), so a live worker is never taken for lost.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy.exc import OperationalError

from avc_tui.registry import Point, Registry, now
from avc_tui.runner.system import SPLIT as SYSTEM_SPLIT
from avc_tui.runner.system import SystemSampler
from core.events import (
    EpochFinished,
    Event,
    ExtractionFinished,
    StepFinished,
    TrainingStarted,
    VideoExtracted,
)

FLUSH_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
SAMPLE_SECONDS = 5.0  # system figures (CPU, memory, GPU)
# Points that cannot be written now are kept for the next flush; the last flush of a run retries
# this long (every RETRY_SECONDS) before it gives up.
FINAL_FLUSH_PATIENCE = 120.0
RETRY_SECONDS = 2.0

# The per-epoch record of core.train: "train_<name>" and "val_<name>" are (split, name) points,
# whatever the name (acc, top5, map, gap, perr, …); these few are named apart.
EPOCH_KEYS = {"lr": ("train", "lr"), "seconds": ("train", "epoch_seconds")}
NOT_METRICS = ("epoch", "step")


def epoch_point_key(name: str) -> tuple[str, str] | None:
    """The (split, key) under which an epoch record's ``name`` is stored; None for what is not a
    metric (the epoch and step counters)."""
    if name in EPOCH_KEYS:
        return EPOCH_KEYS[name]
    split, _, key = name.partition("_")
    if split in ("train", "val") and key:
        return split, key
    return None if name in NOT_METRICS else ("train", name)


class RegistryRecorder:
    """Callback for :func:`core.experiment.run_experiment` that records to ``registry``.

    Use as a context manager: it starts the heartbeat thread and flushes on exit.
    ``cancel_requested`` turns true when someone asked to cancel the run (``avc cancel``).
    """

    def __init__(self, registry: Registry, experiment_id: int, *,
                 flush_seconds: float = FLUSH_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 sampler: SystemSampler | None = None,
                 sample_seconds: float = SAMPLE_SECONDS) -> None:
        self.registry = registry
        self.experiment_id = experiment_id
        self.flush_seconds = flush_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.cancel_requested = False
        self.written = 0
        self._buffer: list[Point] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._epoch = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="avc-heartbeat")
        self.sampler, self.sample_seconds = sampler, sample_seconds
        self._started = time.monotonic()
        self._stop_sampling = threading.Event()
        self._flushing = threading.Lock()
        self._sampling = threading.Thread(target=self._sample_every, daemon=True,
                                          name="avc-system")

    def __enter__(self) -> RegistryRecorder:
        self._thread.start()
        if self.sampler is not None:
            self._sampling.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_sampling.set()
        if self.sampler is not None:
            if self._sampling.is_alive():
                self._sampling.join()  # its flush ends before the last one starts
            self._sample()  # the last figures: a short run has at least these
        try:  # beating on while the last points wait for a locked registry
            self.flush(patience=FINAL_FLUSH_PATIENCE)
        finally:
            self._stop.set()
            self._thread.join(timeout=self.heartbeat_seconds + 1)

    def __call__(self, event: Event) -> None:
        stamp = now()
        if isinstance(event, StepFinished):
            self._add(Point(event.global_step, event.epoch, "train", "step_loss", event.loss,
                            stamp))
            self._add(Point(event.global_step, event.epoch, "train", "step_acc", event.accuracy,
                            stamp))
        elif isinstance(event, EpochFinished):
            self._epoch = event.epoch
            step = int(event.metrics.get("step", event.epoch))
            for name, value in event.metrics.items():
                where = epoch_point_key(name)
                if where is not None and isinstance(value, (int, float)):
                    self._add(Point(step, event.epoch, *where, float(value), stamp))
            self.flush()  # an epoch's numbers are what a dashboard waits for
        elif isinstance(event, TrainingStarted):
            # A resumed run repeats the epochs after its checkpoint: forget their old points.
            self.flush()
            self.registry.drop_points_after(self.experiment_id, event.start_epoch)
            self.registry.update(self.experiment_id, epochs=event.epochs)
        elif isinstance(event, VideoExtracted):
            self._add(Point(event.done, 0, "extract", "videos_done", event.done, stamp))
        elif isinstance(event, ExtractionFinished):
            # Only a pass that decoded something measured a speed; a resumed run whose videos
            # are all cached adds no second point.
            if event.extracted and event.seconds > 0:
                self._add(Point(event.total_videos, 0, "extract", "frames_per_second",
                                event.frames / event.seconds, stamp))
            self.flush()
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def _add(self, point: Point) -> None:
        with self._lock:
            self._buffer.append(point)

    def flush(self, *, patience: float = 0.0) -> None:
        """Write buffered points (one transaction) and heartbeat. A registry that cannot take
        them now (another process holds SQLite's write lock past its busy timeout, a server
        that does not answer) keeps them buffered for the next flush rather than failing the
        run; with ``patience`` it retries for that many seconds, then raises."""
        with self._flushing:  # one flush at a time (the engine's thread, the sampling thread)
            self._flush(patience)

    def _flush(self, patience: float) -> None:
        with self._lock:
            points, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        deadline = time.monotonic() + patience
        while True:
            try:
                self.written += self.registry.add_points(self.experiment_id, points)
                break
            except OperationalError:
                if time.monotonic() >= deadline:
                    with self._lock:
                        self._buffer[:0] = points  # kept, in order, for the next flush
                    if patience:
                        raise
                    return
                time.sleep(min(RETRY_SECONDS, max(0.0, deadline - time.monotonic())))
        try:
            if self.registry.heartbeat(self.experiment_id, epoch=self._epoch or None):
                self.cancel_requested = True
        except OperationalError:
            pass  # the heartbeat thread beats again in a few seconds

    def since(self, seconds: float) -> None:
        """Count the system figures' seconds as if the run had started ``seconds`` ago (a
        resumed run goes on from its first attempt's start)."""
        self._started = time.monotonic() - seconds

    def _sample(self) -> None:
        try:
            values = self.sampler.sample()
        except Exception:  # noqa: BLE001 - figures about the run must never stop it
            return
        stamp, seconds = now(), int(round(time.monotonic() - self._started))
        for key, value in values.items():
            self._add(Point(seconds, self._epoch, SYSTEM_SPLIT, key, value, stamp))

    def _sample_every(self) -> None:
        """System figures every ``sample_seconds``, written with the next flush (or now, when
        the engine has sent nothing for a while: a long extraction)."""
        while not self._stop_sampling.wait(self.sample_seconds):
            self._sample()
            if time.monotonic() - self._last_flush >= self.flush_seconds:
                try:
                    self.flush()
                except Exception:  # noqa: BLE001 - the engine's next flush writes them
                    continue

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                if self.registry.heartbeat(self.experiment_id):
                    self.cancel_requested = True
            except Exception:  # noqa: BLE001 - a missed beat must not kill the run
                continue
