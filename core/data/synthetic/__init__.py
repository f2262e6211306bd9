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

The parts, each importable on its own: :mod:`.spec` (the classes and :class:`SyntheticSpec`),
:mod:`.render` (planning and drawing one clip's frames), :mod:`.encode` (reproducible, atomic H.264
writing) and :mod:`.folder` (the dataset folder: manifest, video list, writing and resuming).
"""

from __future__ import annotations

from core.data.synthetic.folder import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SyntheticSummary,
    SyntheticVideo,
    synthetic_videos,
    write_synthetic_dataset,
)
from core.data.synthetic.render import SHAPES, VideoPlan, draw_video, plan_video, render_video
from core.data.synthetic.spec import SYNTHETIC_CLASSES, SyntheticSpec

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SHAPES",
    "SYNTHETIC_CLASSES",
    "SyntheticSpec",
    "SyntheticSummary",
    "SyntheticVideo",
    "VideoPlan",
    "draw_video",
    "plan_video",
    "render_video",
    "synthetic_videos",
    "write_synthetic_dataset",
]
