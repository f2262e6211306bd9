"""Which frames to take from a video: the :class:`Sampling` rule and the indices it picks.

A :class:`Sampling` is plain configuration (it parses the CLI syntax, enters cache keys and round-trips
through JSON), and :func:`sampled_indices` turns it into frame indices given only a frame count and an
average frame rate. Nothing here opens a file; decoding those indices is :mod:`core.video`'s job, so
configurations can hold a Sampling without loading any decoder.

Frame ``i`` is the ``i``-th frame in presentation order and its time is ``i / fps``: indices come from
the stream's *average* frame rate, never from per-frame timestamps (see :mod:`core.video`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from core.errors import ConfigError
from core.numeric import is_int

SAMPLING_MODES: tuple[str, ...] = ("fps", "uniform", "segments", "all")

_SAMPLING_FORMS = "fps:<rate>, fps:<rate>:max=<n>, uniform:<n>, segments:<n>, all, all:max=<n>"


def _format_number(value: float) -> str:
    """Return ``value`` as short text that still tells different floats apart ("1", "0.5", "29.97")."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Sampling:
    """How frames are chosen from a video.

    * ``"fps"``: frames at t = 0, 1/fps, 2/fps, ... s (the ABDN protocol is 1 frame per second),
      at most ``max_frames`` of them.
    * ``"uniform"``: ``num_frames`` frames at the centres of ``num_frames`` equal chunks.
    * ``"segments"``: TSN sampling; one frame per equal segment, random within the segment when an
      ``rng`` is given (training), the segment's centre otherwise (testing).
    * ``"all"``: every frame, at most ``max_frames`` of them.

    Fields a mode does not use are kept but ignored (they do not enter :meth:`key`).
    Raises :class:`ConfigError` on an unknown mode or an out-of-range value.
    """

    mode: str = "fps"
    fps: float = 1.0
    num_frames: int = 8
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ConfigError(
                f"unknown sampling mode {self.mode!r}; expected one of {', '.join(SAMPLING_MODES)}"
            )
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float, np.number)):
            raise ConfigError(f"sampling fps must be a number, got {self.fps!r}")
        if not math.isfinite(self.fps) or self.fps <= 0:
            raise ConfigError(f"sampling fps must be a positive number, got {self.fps!r}")
        # A float field keeps dicts, keys and equality independent of whether 1 or 1.0 was passed.
        object.__setattr__(self, "fps", float(self.fps))
        if not is_int(self.num_frames) or self.num_frames < 1:
            raise ConfigError(f"sampling num_frames must be an integer >= 1, got {self.num_frames!r}")
        object.__setattr__(self, "num_frames", int(self.num_frames))
        if self.max_frames is not None:
            if not is_int(self.max_frames) or self.max_frames < 1:
                raise ConfigError(
                    f"sampling max_frames must be an integer >= 1 or None, got {self.max_frames!r}"
                )
            object.__setattr__(self, "max_frames", int(self.max_frames))

    def key(self) -> str:
        """Return a short canonical text for cache keys, e.g. ``"fps1-all"``, ``"uniform8"``.

        Only the fields the mode uses enter the key, so equal samplings always give equal keys.
        """
        cap = "all" if self.max_frames is None else f"max{self.max_frames}"
        if self.mode == "fps":
            return f"fps{_format_number(self.fps)}-{cap}"
        if self.mode in ("uniform", "segments"):
            return f"{self.mode}{self.num_frames}"
        return "all" if self.max_frames is None else f"all-{cap}"

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain (JSON-serialisable) dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sampling:
        """Return the Sampling that :meth:`to_dict` produced; missing fields take their defaults.

        Raises :class:`ConfigError` on unknown fields or invalid values.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"a sampling must be given as a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"unknown sampling field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}"
            )
        return cls(**d)

    @classmethod
    def parse(cls, text: str) -> Sampling:
        """Return the Sampling written in CLI syntax: ``fps:1``, ``fps:2:max=10``, ``uniform:16``,
        ``segments:12``, ``all``, ``all:max=300``.

        Raises :class:`ConfigError`, listing the accepted forms, when ``text`` is not one of them.
        """
        bad = ConfigError(
            f"cannot read sampling {text!r}; accepted forms: {_SAMPLING_FORMS}",
            hint="for example --sampling fps:1 (the ABDN protocol) or --sampling segments:8",
        )
        if not isinstance(text, str):
            raise bad
        parts = [part.strip() for part in text.strip().lower().split(":")]
        mode, args = parts[0], parts[1:]
        try:
            if mode == "fps" and len(args) in (1, 2):
                return cls(mode="fps", fps=float(args[0]), max_frames=_parse_max(args[1:]))
            if mode in ("uniform", "segments") and len(args) == 1:
                return cls(mode=mode, num_frames=int(args[0]))
            if mode == "all" and len(args) <= 1:
                return cls(mode="all", max_frames=_parse_max(args))
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"{bad.message} ({exc})", hint=bad.hint) from None
        raise bad


def _parse_max(args: list[str]) -> int | None:
    """Return n from an optional ``["max=<n>"]``; raises ValueError on anything else."""
    if not args:
        return None
    name, sep, value = args[0].partition("=")
    if name.strip() != "max" or not sep:
        raise ValueError(f"expected max=<n>, got {args[0]!r}")
    return int(value)


def _round_half_up(values: np.ndarray) -> np.ndarray:
    # Python's round() rounds half to even; frame picks should not depend on the parity of k.
    return np.floor(values + 0.5).astype(np.int64)


def sampled_indices(
    num_frames: int,
    fps: float,
    sampling: Sampling,
    *,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Return the sorted int64 frame indices ``sampling`` picks from a video of ``num_frames`` frames.

    Mode ``"fps"`` is ABDN's extractor: it seeks to t = k / ``sampling.fps`` seconds, which OpenCV
    turns into frame ``round(t * fps)`` (halves up), and stops at the first seek past the last
    frame. So index ``round(k * fps / sampling.fps)`` is taken for every k while it is a frame of
    the video: 240 frames at 29.97 fps give 8 frames, the last 210, since t = 8 s is frame 240. A
    video shorter than one sampling period gives one frame, index 0. ``rng`` is only used by mode
    ``"segments"``.

    Raises ValueError when ``num_frames < 1`` or ``fps`` is not a positive number.
    """
    if not is_int(num_frames) or num_frames < 1:
        raise ValueError(f"num_frames must be an integer >= 1, got {num_frames!r}")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    n = int(num_frames)

    if sampling.mode == "fps":
        step = fps / sampling.fps
        # Enough seeks to pass the end; the first one that lands past the last frame ends the loop.
        indices = _round_half_up(np.arange(math.floor(n / step) + 2) * step)
        return indices[indices < n][: sampling.max_frames]
    if sampling.mode == "all":
        return np.arange(n, dtype=np.int64)[: sampling.max_frames]

    count = sampling.num_frames
    if sampling.mode == "uniform" or rng is None:
        # Centres of `count` equal chunks; with n < count they repeat, in order.
        return np.floor((np.arange(count) + 0.5) * n / count).astype(np.int64)
    starts = np.floor(np.arange(count) * n / count).astype(np.int64)
    ends = np.floor(np.arange(1, count + 1) * n / count).astype(np.int64)
    # A segment shorter than one frame (video shorter than the segment count) still owns its start.
    ends = np.maximum(ends, starts + 1)
    return np.sort(rng.integers(starts, ends)).astype(np.int64)
