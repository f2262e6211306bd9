"""The bundled synthetic dataset: short H.264 clips whose class is only visible in motion over seconds.

avc's embedded default experiment needs a dataset that exists offline, is written in seconds and
still exercises what the temporal models are for. Each clip shows one large, high-contrast shape on
a static background; the class is the shape's *motion* over the whole clip (direction, growth or the
order of two movements). The start position and size are spread so that the first frame alone does
not tell the class, and the set of positions visited by ``move_left`` and ``move_right`` has the same
distribution, so only the order of 1-fps frames separates them.

Everything is drawn from a per-video generator seeded by ``(spec.seed, class index, video index)``,
so the same :class:`SyntheticSpec` always yields the same decoded frames, and a re-run into the same
folder only writes the videos that are missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError

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

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "ring")

MANIFEST_NAME = "synthetic.json"
MANIFEST_FORMAT = "avc-synthetic"
MANIFEST_VERSION = 1

_CODEC = "libx264"
_CODEC_OPTIONS = {"crf": "23", "preset": "veryfast"}
_PIX_FMT = "yuv420p"
_PARTIAL_SUFFIX = ".partial"

# Bounds that keep the rendering meaningful: the object needs room to move, and 1 fps sampling
# needs at least one second of video.
_MIN_SIDE = 32
_MAX_SIDE = 4096
_MIN_DURATION = 1.0
_MAX_DURATION = 600.0
_MAX_FPS = 120

# Object diameter as a fraction of the shorter frame side.
_MOVER_SIZE = (0.18, 0.32)
_GROW_SIZE = (0.10, 0.60)
_GROW_RATIO = (1.5, 2.2)  # end/start diameter: 2.25–4.8 times the area
# Fraction of the free range the object travels; small enough that the start ranges of opposite
# directions overlap, large enough to be seen between 1-fps samples.
_MOVE_EXTENT = (0.30, 0.55)
_EXCURSION_EXTENT = (0.30, 0.55)
_GRADIENT_PROBABILITY = 0.6
_GRADIENT_SHIFT = (0.0, 0.12)  # luminance change across the frame
_MAX_DISTRACTORS = 3
_NOISE_STD = (0.0, 10.0)  # in 0–255 levels
_NOISE_PAD = 16


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
        if not _is_int(self.videos_per_class) or self.videos_per_class < 1:
            raise ConfigError(f"videos_per_class must be an integer >= 1, got {self.videos_per_class!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if not _is_number(value) or not _MIN_DURATION <= value <= _MAX_DURATION:
                raise ConfigError(
                    f"{name} must be between {_MIN_DURATION:g} and {_MAX_DURATION:g} seconds, got {value!r}"
                )
        if self.min_duration > self.max_duration:
            raise ConfigError(
                f"min_duration ({self.min_duration:g} s) is larger than "
                f"max_duration ({self.max_duration:g} s)"
            )
        if not self.fps_choices:
            raise ConfigError("fps_choices is empty; give at least one frame rate")
        for fps in self.fps_choices:
            if not _is_int(fps) or not 1 <= fps <= _MAX_FPS:
                raise ConfigError(f"every fps must be an integer between 1 and {_MAX_FPS}, got {fps!r}")
        if not self.sizes:
            raise ConfigError("sizes is empty; give at least one (width, height)")
        for size in self.sizes:
            if len(size) != 2 or not all(_is_int(v) for v in size):
                raise ConfigError(f"every size must be a (width, height) pair of integers, got {size!r}")
            width, height = size
            if not (_MIN_SIDE <= width <= _MAX_SIDE and _MIN_SIDE <= height <= _MAX_SIDE):
                raise ConfigError(f"frame size {width}x{height} is outside {_MIN_SIDE}–{_MAX_SIDE} pixels")
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


@dataclass(frozen=True)
class SyntheticVideo:
    """One written clip; ``duration`` is exactly ``num_frames / fps``."""

    path: Path
    class_name: str
    duration: float
    fps: int
    width: int
    height: int
    num_frames: int


@dataclass(frozen=True)
class SyntheticSummary:
    """The written dataset: its root, classes in label order, every video, and their total seconds."""

    root: Path
    classes: tuple[str, ...]
    videos: tuple[SyntheticVideo, ...]
    seconds: float


@dataclass(frozen=True, eq=False)
class VideoPlan:
    """Everything needed to draw one clip: static background, object look and per-frame trajectory.

    ``centers`` is (N, 2) in pixels (x, y); ``radii`` is (N,) in pixels (half the object's extent).
    ``background`` is (height, width, 3) float32 in 0–255 and already holds the static distractors.
    """

    class_name: str
    width: int
    height: int
    num_frames: int
    background: np.ndarray = field(repr=False)
    shape: str
    angle: float
    color: np.ndarray
    centers: np.ndarray = field(repr=False)
    radii: np.ndarray = field(repr=False)
    noise_std: float
    noise_seed: int


# --------------------------------------------------------------------------------------------- helpers


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return real and math.isfinite(value)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _colour_with_luminance(rng: np.random.Generator, luminance: float) -> np.ndarray:
    """Return a random RGB colour (0–1) with the given Rec. 601 luminance, keeping its hue."""
    colour = rng.random(3)
    current = float(colour @ np.array([0.299, 0.587, 0.114]))
    if luminance <= current:
        colour = colour * (luminance / max(current, 1e-6))
    else:
        colour = 1.0 - (1.0 - colour) * ((1.0 - luminance) / max(1.0 - current, 1e-6))
    return np.clip(colour, 0.0, 1.0)


def _shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """Return an approximate signed distance in pixels to the shape's edge (negative inside)."""
    if shape in ("square", "triangle"):
        cos, sin = math.cos(angle), math.sin(angle)
        dx, dy = cos * dx + sin * dy, -sin * dx + cos * dy
    if shape == "circle":
        return np.hypot(dx, dy) - radius
    if shape == "ring":
        return np.abs(np.hypot(dx, dy) - 0.7 * radius) - 0.3 * radius
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.8 * radius
    if shape == "diamond":
        return (np.abs(dx) + np.abs(dy) - radius) * (1.0 / math.sqrt(2.0))
    # Equilateral triangle pointing up, inscribed in the circle of ``radius``: three half-planes.
    apothem = 0.5 * radius
    half = math.sqrt(3.0) / 2.0
    return np.maximum.reduce(
        [dy - apothem, -half * dx - 0.5 * dy - apothem, half * dx - 0.5 * dy - apothem]
    )


def _alpha(sdf: np.ndarray) -> np.ndarray:
    # One-pixel soft edge: less aliasing flicker for a slowly moving object than a hard mask.
    return np.clip(0.5 - sdf, 0.0, 1.0)


def _frame_count(duration: float, fps: int) -> int:
    return int(round(duration * fps))


def _ease(u: np.ndarray, smooth: bool) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u) if smooth else u


def _ramp(t: np.ndarray, start: float, end: float, smooth: bool) -> np.ndarray:
    return _ease((t - start) / max(end - start, 1e-6), smooth)


# -------------------------------------------------------------------------------------------- planning


def _background(rng: np.random.Generator, width: int, height: int, dark: bool) -> np.ndarray:
    """Return a static (height, width, 3) float32 background: solid or gradient, plus distractor blobs."""
    base_lum = _uniform(rng, (0.05, 0.25)) if dark else _uniform(rng, (0.72, 0.92))
    base = _colour_with_luminance(rng, base_lum)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < _GRADIENT_PROBABILITY:
        # A mild gradient stays far from the object's luminance, so contrast is kept everywhere.
        shift = _uniform(rng, _GRADIENT_SHIFT) * (1.0 if dark else -1.0)
        other = _colour_with_luminance(rng, base_lum + shift)
        theta = _uniform(rng, (0.0, 2.0 * math.pi))
        proj = math.cos(theta) * xs + math.sin(theta) * ys
        ramp = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
        image = base[None, None, :] + (other - base)[None, None, :] * ramp[..., None]
    else:
        image = np.broadcast_to(base, (height, width, 3)).copy()
    image = image.astype(np.float32)

    side = min(width, height)
    for _ in range(int(rng.integers(0, _MAX_DISTRACTORS + 1))):
        radius = _uniform(rng, (0.04, 0.09)) * side
        cx, cy = _uniform(rng, (0, width)), _uniform(rng, (0, height))
        shape = "circle" if rng.random() < 0.5 else "square"
        alpha = _alpha(_shape_sdf(shape, xs - cx, ys - cy, radius, 0.0))[..., None]
        # Tinted within the background's luminance band: visible clutter that never erodes the
        # object's contrast where it passes over a distractor.
        tint_lum = _uniform(rng, (0.0, 0.35)) if dark else _uniform(rng, (0.65, 1.0))
        tint = image * 0.6 + _colour_with_luminance(rng, tint_lum) * 0.4
        image = image * (1.0 - alpha) + tint * alpha
    return (np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32)


def _trajectory(
    class_name: str, rng: np.random.Generator, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (x, y, diameter) per frame; x and y in 0–1 of the free range, diameter as a side fraction."""
    n = len(t)
    start, end = _uniform(rng, (0.0, 0.15)), _uniform(rng, (0.85, 1.0))
    smooth = bool(rng.random() < 0.5)
    move = _ramp(t, start, end, smooth)

    if class_name in ("grow", "shrink"):
        # Like the movers: the change is a random stretch of one shared (log) size range, so grow and
        # shrink start at overlapping sizes and only the direction of change tells them apart.
        low, high = np.log(_GROW_SIZE[0]), np.log(_GROW_SIZE[1])
        change = np.log(_uniform(rng, _GROW_RATIO)) * (1.0 if class_name == "grow" else -1.0)
        first = _uniform(rng, (low, high - change) if change > 0 else (low - change, high))
        log_size = first + change * move
        x = np.full(n, _uniform(rng, (0.0, 1.0)))
        y = np.full(n, _uniform(rng, (0.0, 1.0)))
        return x, y, np.exp(log_size)

    diameter = np.full(n, _uniform(rng, _MOVER_SIZE))
    across = _uniform(rng, (0.0, 1.0))
    drift = _uniform(rng, (-0.08, 0.08))
    other_axis = np.clip(across + drift * move, 0.0, 1.0)

    if class_name.startswith("move_"):
        extent = _uniform(rng, _MOVE_EXTENT)
        increasing = class_name in ("move_right", "move_down")
        # Start anywhere the full movement still fits; opposite directions share the middle.
        first = _uniform(rng, (0.0, 1.0 - extent)) if increasing else _uniform(rng, (extent, 1.0))
        main_axis = first + (extent if increasing else -extent) * move
        if class_name in ("move_left", "move_right"):
            return main_axis, other_axis, diameter
        return other_axis, main_axis, diameter

    # left_then_right / right_then_left: out and back, so start and end are close; only order differs.
    extent = _uniform(rng, _EXCURSION_EXTENT)
    turn = _uniform(rng, (0.4, 0.6))
    out = _ramp(t, start, turn, smooth)
    back = _ramp(t, turn, end, smooth)
    return_extent = extent * _uniform(rng, (0.85, 1.15))
    if class_name == "left_then_right":
        first = _uniform(rng, (extent, 1.0))
        x = first - extent * out + return_extent * back
    else:
        first = _uniform(rng, (0.0, 1.0 - extent))
        x = first + extent * out - return_extent * back
    return np.clip(x, 0.0, 1.0), other_axis, diameter


def plan_video(
    class_name: str, rng: np.random.Generator, *, duration: float, fps: int, width: int, height: int
) -> VideoPlan:
    """Return the random plan of one clip (background, object, trajectory, noise) drawn from ``rng``.

    Raises:
        ConfigError: unknown class, frame size below 32 pixels, fps below 1, or fewer than one frame.
    """
    if class_name not in SYNTHETIC_CLASSES:
        raise ConfigError(
            f"unknown synthetic class {class_name!r}; known: {', '.join(SYNTHETIC_CLASSES)}"
        )
    if not (_is_int(width) and _is_int(height)) or width < _MIN_SIDE or height < _MIN_SIDE:
        raise ConfigError(f"frame size must be at least {_MIN_SIDE}x{_MIN_SIDE} pixels, got {width}x{height}")
    if not _is_int(fps) or fps < 1:
        raise ConfigError(f"fps must be a positive integer, got {fps!r}")
    if not _is_number(duration):
        raise ConfigError(f"duration must be a finite number of seconds, got {duration!r}")
    num_frames = _frame_count(duration, fps)
    if num_frames < 1:
        raise ConfigError(f"duration {duration!r} s at {fps} fps gives no frames")

    dark = bool(rng.random() < 0.5)
    background = _background(rng, width, height, dark)
    # Opposite luminance band from the background: >= ~0.3 luminance contrast everywhere.
    obj_lum = _uniform(rng, (0.68, 0.95)) if dark else _uniform(rng, (0.05, 0.30))
    color = (_colour_with_luminance(rng, obj_lum) * 255.0).astype(np.float32)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    angle = _uniform(rng, (-math.pi / 9, math.pi / 9))

    t = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    x, y, diameter = _trajectory(class_name, rng, t)
    side = min(width, height)
    radii = diameter * side / 2.0
    margin = float(radii.max())
    # Map 0–1 onto the centres where the largest object still fits in the frame.
    cx = margin + x * (width - 2.0 * margin)
    cy = margin + y * (height - 2.0 * margin)

    return VideoPlan(
        class_name=class_name,
        width=width,
        height=height,
        num_frames=num_frames,
        background=background,
        shape=shape,
        angle=angle,
        color=color,
        centers=np.stack([cx, cy], axis=1),
        radii=radii,
        noise_std=_uniform(rng, _NOISE_STD),
        noise_seed=int(rng.integers(2**31)),
    )


# --------------------------------------------------------------------------------------------- drawing


def draw_video(plan: VideoPlan) -> np.ndarray:
    """Return the plan's frames as an (N, height, width, 3) uint8 RGB array (deterministic per plan)."""
    height, width = plan.height, plan.width
    frames = np.empty((plan.num_frames, height, width, 3), dtype=np.uint8)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]

    noise_rng = np.random.default_rng(plan.noise_seed)
    bank = None
    if plan.noise_std > 0:
        # A few padded noise fields cropped at random offsets: fresh-looking noise every frame for a
        # fraction of the cost of drawing N full Gaussian fields.
        bank = noise_rng.standard_normal((4, height + _NOISE_PAD, width + _NOISE_PAD, 3), dtype=np.float32)
        bank *= plan.noise_std

    frame = np.empty((height, width, 3), dtype=np.float32)
    for index in range(plan.num_frames):
        np.copyto(frame, plan.background)
        cx, cy = plan.centers[index]
        radius = float(plan.radii[index])
        reach = radius * 1.2 + 2.0
        x0, x1 = max(int(cx - reach), 0), min(int(math.ceil(cx + reach)) + 1, width)
        y0, y1 = max(int(cy - reach), 0), min(int(math.ceil(cy + reach)) + 1, height)
        if x0 < x1 and y0 < y1:
            sdf = _shape_sdf(plan.shape, xs[:, x0:x1] - cx, ys[y0:y1] - cy, radius, plan.angle)
            alpha = _alpha(sdf)[..., None]
            region = frame[y0:y1, x0:x1]
            region += (plan.color - region) * alpha
        if bank is not None:
            k = int(noise_rng.integers(len(bank)))
            oy, ox = noise_rng.integers(0, _NOISE_PAD + 1, size=2)
            frame += bank[k, oy : oy + height, ox : ox + width]
        np.clip(frame, 0.0, 255.0, out=frame)
        np.rint(frame, out=frame)
        frames[index] = frame
    return frames


def render_video(
    class_name: str, rng: np.random.Generator, *, duration: float, fps: int, width: int, height: int
) -> np.ndarray:
    """Return one random clip of ``class_name`` as (N, height, width, 3) uint8 RGB, N = round(duration * fps).

    Raises:
        ConfigError: unknown class, frame size below 32 pixels, fps below 1, or fewer than one frame.
    """
    return draw_video(plan_video(class_name, rng, duration=duration, fps=fps, width=width, height=height))


# --------------------------------------------------------------------------------------------- writing


def _video_rng(spec: SyntheticSpec, class_name: str, index: int) -> np.random.Generator:
    # The global class index (not the position in spec.classes) keeps a class's videos identical
    # whichever subset of classes is asked for.
    return np.random.default_rng([spec.seed, SYNTHETIC_CLASSES.index(class_name), index])


def _video_meta(
    spec: SyntheticSpec, class_name: str, index: int, root: Path
) -> tuple[SyntheticVideo, np.random.Generator]:
    """Return the video's metadata and the generator positioned to plan its content."""
    rng = _video_rng(spec, class_name, index)
    fps = int(spec.fps_choices[int(rng.integers(len(spec.fps_choices)))])
    width, height = spec.sizes[int(rng.integers(len(spec.sizes)))]
    duration = _uniform(rng, (spec.min_duration, spec.max_duration))
    num_frames = max(1, _frame_count(duration, fps))
    video = SyntheticVideo(
        path=root / class_name / f"{class_name}_{index:03d}.mp4",
        class_name=class_name,
        duration=num_frames / fps,
        fps=fps,
        width=int(width),
        height=int(height),
        num_frames=num_frames,
    )
    return video, rng


_M_PERTURB = -6  # glibc <malloc.h>
_perturb_lock = threading.Lock()
_perturb_users = 0


@functools.cache
def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """Return glibc's ``mallopt``, or None on other C libraries."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


@contextlib.contextmanager
def _deterministic_heap() -> Iterator[None]:
    """Make fresh heap memory hold fixed bytes while encoding, so libx264's output is reproducible.

    libx264 (as bundled with PyAV) reads some never-written padding bytes of its frame buffers; whatever
    earlier allocations left there changes the right-most macroblocks of the bitstream (decoded pixels
    differ by up to ~40 levels between two runs of the same spec). glibc's ``M_PERTURB`` fills every
    allocation with a constant byte, which removes that dependence. Elsewhere this is a no-op.
    """
    global _perturb_users
    mallopt = _glibc_mallopt()
    if mallopt is None:
        yield
        return
    with _perturb_lock:
        if _perturb_users == 0:
            mallopt(_M_PERTURB, 0x5A)
        _perturb_users += 1
    try:
        yield
    finally:
        with _perturb_lock:
            _perturb_users -= 1
            if _perturb_users == 0:
                mallopt(_M_PERTURB, 0)


def _encode(path: Path, frames: np.ndarray, fps: int) -> None:
    """Write ``frames`` as H.264 in an MP4 container at ``path`` (format given explicitly)."""
    import av  # PyAV is only needed when writing; keep importing this module cheap.

    with _deterministic_heap(), av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(_CODEC, rate=fps, options=dict(_CODEC_OPTIONS))
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = _PIX_FMT
        # One thread: byte-identical output on every machine and no oversubscription of 2 cores.
        stream.codec_context.thread_count = 1
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _write_video_atomically(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode to a hidden temporary file beside ``path`` and rename it into place."""
    partial = path.with_name(f".{path.name}{_PARTIAL_SUFFIX}")
    try:
        _encode(partial, frames, fps)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}{_PARTIAL_SUFFIX}")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _manifest(spec: SyntheticSpec) -> dict[str, Any]:
    return {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "spec": spec.to_dict()}


def _check_root(root: Path, spec: SyntheticSpec) -> bool:
    """Return whether ``root`` already holds this spec's dataset (True) or is free to use (False).

    Raises:
        ConfigError: ``root`` is a file, holds another spec's dataset or an unreadable manifest, or is
            a non-empty folder that is not a synthetic dataset.
    """
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder; choose a folder for the synthetic dataset")
    if not root.exists():
        return False
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        if any(root.iterdir()):
            raise ConfigError(
                f"{root} is not empty and holds no {MANIFEST_NAME}; refusing to write the synthetic "
                "dataset into someone else's files",
                hint="choose an empty or new folder",
            )
        return False
    try:
        stored = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(
            f"{manifest_path} cannot be read as JSON ({error}); refusing to overwrite it",
            hint="delete the folder or choose another one",
        ) from error
    if not isinstance(stored, dict) or stored.get("format") != MANIFEST_FORMAT:
        raise ConfigError(
            f"{manifest_path} is not an avc synthetic dataset manifest; refusing to overwrite it",
            hint="choose an empty or new folder",
        )
    wanted = json.loads(json.dumps(_manifest(spec)))
    if stored != wanted:
        raise ConfigError(
            f"{root} already holds a synthetic dataset with a different spec "
            f"(stored {json.dumps(stored.get('spec'))}, asked for {json.dumps(wanted['spec'])})",
            hint="use the same spec to resume it, or choose another folder",
        )
    return True


def synthetic_videos(root: str | Path, spec: SyntheticSpec = SyntheticSpec()) -> tuple[SyntheticVideo, ...]:
    """Return the videos ``spec`` describes under ``root`` (class by class), without writing anything."""
    root = Path(root)
    return tuple(
        _video_meta(spec, class_name, index, root)[0]
        for class_name in spec.classes
        for index in range(spec.videos_per_class)
    )


def write_synthetic_dataset(
    root: str | Path,
    spec: SyntheticSpec = SyntheticSpec(),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticSummary:
    """Write the dataset ``spec`` describes to ``root/<class>/<class>_<i>.mp4`` plus ``root/synthetic.json``.

    Videos already present under a manifest of the same spec are kept, so a re-run resumes an
    interrupted one. ``progress(done, total)`` is called after each video, written or kept.

    Returns:
        The summary of every video of the dataset.

    Raises:
        ConfigError: ``root`` is a file or cannot be created, is a non-empty folder without
            ``synthetic.json``, or holds a dataset of a different spec.
    """
    root = Path(root)
    _check_root(root, spec)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the synthetic dataset folder {root}: {error}") from error
    # The manifest goes first: an interrupted run then leaves a folder the next run recognises.
    _write_json_atomically(root / MANIFEST_NAME, _manifest(spec))

    total = len(spec.classes) * spec.videos_per_class
    videos: list[SyntheticVideo] = []
    for class_name in spec.classes:
        (root / class_name).mkdir(exist_ok=True)
        for index in range(spec.videos_per_class):
            video, rng = _video_meta(spec, class_name, index, root)
            if not video.path.is_file():
                frames = render_video(
                    class_name,
                    rng,
                    duration=video.duration,
                    fps=video.fps,
                    width=video.width,
                    height=video.height,
                )
                _write_video_atomically(video.path, frames, video.fps)
            videos.append(video)
            if progress is not None:
                progress(len(videos), total)
    return SyntheticSummary(
        root=root,
        classes=spec.classes,
        videos=tuple(videos),
        seconds=float(sum(video.duration for video in videos)),
    )


def _main() -> None:  # pragma: no cover - a timing aid: python -m core.data.synthetic OUT
    out = Path(sys.argv[1])
    started = time.perf_counter()
    summary = write_synthetic_dataset(out)
    elapsed = time.perf_counter() - started
    size = sum(video.path.stat().st_size for video in summary.videos)
    print(
        f"{len(summary.videos)} videos, {summary.seconds:.0f} s of video, "
        f"{size / 1e6:.1f} MB in {elapsed:.1f} s"
    )


if __name__ == "__main__":  # pragma: no cover
    _main()
