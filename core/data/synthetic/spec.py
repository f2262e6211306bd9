"""What a synthetic dataset holds: the motion classes and :class:`SyntheticSpec`, validated and JSON-ready.

The spec is what the dataset's manifest stores, so equal specs always describe the same videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.numeric import is_finite_real, is_int

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "grow",
    "shrink",
    "left_then_right",
    "right_then_left",
)

# Bounds that keep the rendering meaningful: the object needs room to move, and 1 fps sampling
# needs at least one second of video.
MIN_SIDE = 32
MAX_SIDE = 4096
MIN_DURATION = 1.0
MAX_DURATION = 600.0
MAX_FPS = 120


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: how many videos of which classes, and the ranges their properties are drawn from.

    Raises:
        ConfigError: from ``__post_init__`` for an unknown or repeated class, fewer than two classes,
            ``videos_per_class < 1``, a negative seed, durations outside 1–600 s or min > max, an
            empty or out-of-range fps list, or a frame size that is odd or outside 32–4096 pixels.
    """

    videos_per_class: int = 15
    seed: int = 0
    min_duration: float = 3.0
    max_duration: float = 12.0
    fps_choices: tuple[int, ...] = (10, 12, 15, 24, 25, 30)
    sizes: tuple[tuple[int, int], ...] = ((128, 96), (160, 120), (176, 144), (192, 128))
    classes: tuple[str, ...] = SYNTHETIC_CLASSES

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples so the spec stays hashable and comparable.
        try:
            object.__setattr__(self, "fps_choices", tuple(self.fps_choices))
            object.__setattr__(self, "sizes", tuple(tuple(size) for size in self.sizes))
            object.__setattr__(self, "classes", tuple(self.classes))
        except TypeError as error:
            raise ConfigError(f"fps_choices, sizes and classes must be sequences: {error}") from error
        self._validate()
        # Plain Python numbers only, so to_dict() is always JSON-serialisable.
        object.__setattr__(self, "videos_per_class", int(self.videos_per_class))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "min_duration", float(self.min_duration))
        object.__setattr__(self, "max_duration", float(self.max_duration))
        object.__setattr__(self, "fps_choices", tuple(int(fps) for fps in self.fps_choices))
        object.__setattr__(self, "sizes", tuple((int(w), int(h)) for w, h in self.sizes))
        object.__setattr__(self, "classes", tuple(str(name) for name in self.classes))

    def _validate(self) -> None:
        if not is_int(self.videos_per_class) or self.videos_per_class < 1:
            raise ConfigError(f"videos_per_class must be an integer >= 1, got {self.videos_per_class!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if not is_finite_real(value) or not MIN_DURATION <= value <= MAX_DURATION:
                raise ConfigError(
                    f"{name} must be between {MIN_DURATION:g} and {MAX_DURATION:g} seconds, got {value!r}"
                )
        if self.min_duration > self.max_duration:
            raise ConfigError(
                f"min_duration ({self.min_duration:g} s) is larger than "
                f"max_duration ({self.max_duration:g} s)"
            )
        if not self.fps_choices:
            raise ConfigError("fps_choices is empty; give at least one frame rate")
        for fps in self.fps_choices:
            if not is_int(fps) or not 1 <= fps <= MAX_FPS:
                raise ConfigError(f"every fps must be an integer between 1 and {MAX_FPS}, got {fps!r}")
        if not self.sizes:
            raise ConfigError("sizes is empty; give at least one (width, height)")
        for size in self.sizes:
            if len(size) != 2 or not all(is_int(v) for v in size):
                raise ConfigError(f"every size must be a (width, height) pair of integers, got {size!r}")
            width, height = size
            if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
                raise ConfigError(f"frame size {width}x{height} is outside {MIN_SIDE}–{MAX_SIDE} pixels")
            if width % 2 or height % 2:
                raise ConfigError(
                    f"frame size {width}x{height} has an odd side; "
                    "H.264 with yuv420p needs even width and height"
                )
        unknown = [name for name in self.classes if name not in SYNTHETIC_CLASSES]
        if unknown:
            raise ConfigError(
                f"unknown synthetic class(es): {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(SYNTHETIC_CLASSES)}"
            )
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"classes are repeated: {', '.join(self.classes)}")
        if len(self.classes) < 2:
            raise ConfigError(f"a dataset needs at least 2 classes, got {len(self.classes)}")

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dict (lists instead of tuples)."""
        return {
            "videos_per_class": self.videos_per_class,
            "seed": self.seed,
            "min_duration": float(self.min_duration),
            "max_duration": float(self.max_duration),
            "fps_choices": list(self.fps_choices),
            "sizes": [list(size) for size in self.sizes],
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticSpec:
        """Return the spec described by ``data`` (the output of :meth:`to_dict`).

        Raises:
            ConfigError: ``data`` is not a dict, has unknown keys, or holds invalid values.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a synthetic spec must be a mapping, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown synthetic spec key(s): {', '.join(extra)}")
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f"invalid synthetic spec: {error}") from error
