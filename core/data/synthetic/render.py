"""Drawing a synthetic clip: a random plan (background, object, trajectory, noise) and its frames.

Each clip shows one large, high-contrast shape on a static background; the class is the shape's
*motion* over the whole clip. :func:`plan_video` draws every random choice from the generator it is
given, and :func:`draw_video` turns the plan into uint8 RGB frames deterministically, so a seeded
generator always yields the same frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.data.synthetic.spec import MIN_SIDE, SYNTHETIC_CLASSES
from core.errors import ConfigError
from core.numeric import is_finite_real, is_int

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "ring")

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


def frame_count(duration: float, fps: int) -> int:
    """Return the number of frames a clip of ``duration`` seconds has at ``fps``: round(duration * fps)."""
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
    if not (is_int(width) and is_int(height)) or width < MIN_SIDE or height < MIN_SIDE:
        raise ConfigError(f"frame size must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {width}x{height}")
    if not is_int(fps) or fps < 1:
        raise ConfigError(f"fps must be a positive integer, got {fps!r}")
    if not is_finite_real(duration):
        raise ConfigError(f"duration must be a finite number of seconds, got {duration!r}")
    num_frames = frame_count(duration, fps)
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
