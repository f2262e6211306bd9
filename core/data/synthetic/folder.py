"""The synthetic dataset on disk: which videos a spec makes, its manifest, and writing or resuming it.

The folder is ``root/<class>/<class>_<i>.mp4`` plus ``root/synthetic.json``, the manifest that
records the spec. Every video's properties and content come from a generator seeded by
``(spec.seed, class index, video index)``, so a re-run with the same spec into the same folder only
writes the videos that are missing, and a folder holding another spec's dataset is never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write, remove_leftovers
from core.data.synthetic.encode import write_video
from core.data.synthetic.render import frame_count, render_video
from core.data.synthetic.spec import SYNTHETIC_CLASSES, SyntheticSpec
from core.errors import ConfigError

MANIFEST_NAME = "synthetic.json"
MANIFEST_FORMAT = "avc-synthetic"
MANIFEST_VERSION = 1


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
    duration = float(rng.uniform(spec.min_duration, spec.max_duration))
    num_frames = max(1, frame_count(duration, fps))
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
    interrupted one; the hidden temporary files a killed run left beside the manifest or a missing
    video are deleted, so two runs must not write the same folder at the same time.
    ``progress(done, total)`` is called after each video, written or kept.

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
    manifest_path = root / MANIFEST_NAME
    remove_leftovers(manifest_path)
    atomic_write(manifest_path, json.dumps(_manifest(spec), indent=2) + "\n")

    total = len(spec.classes) * spec.videos_per_class
    videos: list[SyntheticVideo] = []
    for class_name in spec.classes:
        (root / class_name).mkdir(exist_ok=True)
        for index in range(spec.videos_per_class):
            video, rng = _video_meta(spec, class_name, index, root)
            if not video.path.is_file():
                # A run killed while encoding this video may have left its temporary file behind.
                remove_leftovers(video.path)
                frames = render_video(
                    class_name,
                    rng,
                    duration=video.duration,
                    fps=video.fps,
                    width=video.width,
                    height=video.height,
                )
                write_video(video.path, frames, video.fps)
            videos.append(video)
            if progress is not None:
                progress(len(videos), total)
    return SyntheticSummary(
        root=root,
        classes=spec.classes,
        videos=tuple(videos),
        seconds=float(sum(video.duration for video in videos)),
    )
