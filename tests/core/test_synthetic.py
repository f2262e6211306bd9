"""Tests of the bundled synthetic dataset: files, determinism, motion semantics and safe (re)writing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import numpy as np
import pytest

from core.data import synthetic
from core.data.synthetic import (
    SYNTHETIC_CLASSES,
    SyntheticSpec,
    SyntheticSummary,
    plan_video,
    render_video,
    synthetic_videos,
    write_synthetic_dataset,
)
from core.data.synthetic import encode as synthetic_encode
from core.data.synthetic import folder as synthetic_folder
from core.errors import ConfigError

SMALL = SyntheticSpec(
    videos_per_class=2,
    seed=3,
    min_duration=3.0,
    max_duration=4.0,
    fps_choices=(10, 12),
    sizes=((96, 64), (128, 96)),
)
TINY = dataclasses.replace(
    SMALL, classes=("move_left", "grow"), max_duration=3.5, sizes=((96, 64),), fps_choices=(10,)
)

# Pixels farther than this (max over channels) from the clean background belong to the object: the
# object/background contrast is >= ~70 levels and the pixel noise std is <= 10 levels.
OBJECT_THRESHOLD = 50


def decode(path: Path) -> tuple[np.ndarray, str, float, str]:
    """Return (frames, codec name, average fps, pixel format) of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, rate, pix_fmt = stream.codec_context.name, float(stream.average_rate), stream.codec_context.pix_fmt
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
    return frames, codec, rate, pix_fmt


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSummary, list[tuple[int, int]]]:
    root = tmp_path_factory.mktemp("synthetic") / "data"
    calls: list[tuple[int, int]] = []
    summary = write_synthetic_dataset(root, SMALL, progress=lambda done, total: calls.append((done, total)))
    return summary, calls


# ------------------------------------------------------------------------------------------ the files


def test_class_folder_layout_manifest_and_progress(small_dataset: tuple[SyntheticSummary, list]) -> None:
    summary, calls = small_dataset
    root = summary.root
    assert summary.classes == SYNTHETIC_CLASSES
    assert len(summary.videos) == len(SYNTHETIC_CLASSES) * 2
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(SYNTHETIC_CLASSES)
    for class_name in SYNTHETIC_CLASSES:
        names = sorted(p.name for p in (root / class_name).iterdir())
        assert names == [f"{class_name}_000.mp4", f"{class_name}_001.mp4"]
    for video in summary.videos:
        assert video.path == root / video.class_name / video.path.name
        assert video.path.is_file() and video.path.stat().st_size > 0
        assert video.fps in SMALL.fps_choices
        assert (video.width, video.height) in SMALL.sizes
        assert video.num_frames == round(video.duration * video.fps)
        assert SMALL.min_duration - 1 / video.fps <= video.duration <= SMALL.max_duration + 1 / video.fps
    assert summary.seconds == pytest.approx(sum(v.duration for v in summary.videos))
    manifest = json.loads((root / "synthetic.json").read_text())
    assert manifest["format"] == "avc-synthetic"
    assert manifest["version"] == synthetic.MANIFEST_VERSION
    assert manifest["spec"] == json.loads(json.dumps(SMALL.to_dict()))
    assert SyntheticSpec.from_dict(manifest["spec"]) == SMALL
    assert calls == [(k, len(summary.videos)) for k in range(1, len(summary.videos) + 1)]
    # Metadata is known without writing, and agrees with what was written.
    assert synthetic_videos(root, SMALL) == summary.videos


def test_videos_decode_as_h264_with_the_promised_frames(small_dataset: tuple[SyntheticSummary, list]) -> None:
    summary, _ = small_dataset
    for video in summary.videos:
        frames, codec, rate, pix_fmt = decode(video.path)
        assert codec == "h264"
        assert pix_fmt == "yuv420p"
        assert rate == pytest.approx(video.fps, abs=0.01)
        assert frames.shape[1:] == (video.height, video.width, 3)
        assert abs(len(frames) - video.num_frames) <= 1


def test_written_frames_are_the_rendered_frames(small_dataset: tuple[SyntheticSummary, list]) -> None:
    summary, _ = small_dataset
    video = next(v for v in summary.videos if v.class_name == "right_then_left")
    index = int(video.path.stem.rsplit("_", 1)[1])
    _, rng = synthetic_folder._video_meta(SMALL, video.class_name, index, summary.root)
    rendered = render_video(
        video.class_name, rng, duration=video.duration, fps=video.fps, width=video.width, height=video.height
    )
    decoded, *_ = decode(video.path)
    assert decoded.shape == rendered.shape
    # H.264 at crf 23 smooths the pixel noise away; compare 8x8 block means, where noise averages out.
    n, h, w, _ = rendered.shape

    def blocks(frames: np.ndarray) -> np.ndarray:
        return frames.astype(float).reshape(n, h // 8, 8, w // 8, 8, 3).mean(axis=(2, 4))

    assert np.abs(blocks(decoded) - blocks(rendered)).mean() < 3


# -------------------------------------------------------------------------------------- determinism


def churn_heap(seed: int) -> None:
    """Leave random bytes in freed heap memory, as unrelated earlier work in a process would."""
    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 256, int(size), dtype=np.uint8) for size in rng.integers(1_000, 400_000, 40)]
    del blocks


def test_same_spec_gives_the_same_frames_and_another_seed_does_not(tmp_path: Path) -> None:
    spec = dataclasses.replace(SMALL, videos_per_class=1, max_duration=3.5)
    churn_heap(1)
    first = write_synthetic_dataset(tmp_path / "first", spec)
    churn_heap(2)
    again = write_synthetic_dataset(tmp_path / "again", spec)
    other = write_synthetic_dataset(tmp_path / "other", dataclasses.replace(spec, seed=4))
    assert [dataclasses.replace(v, path=v.path.relative_to(first.root)) for v in first.videos] == [
        dataclasses.replace(v, path=v.path.relative_to(again.root)) for v in again.videos
    ]
    same_looking = 0
    for a, b, c in zip(first.videos, again.videos, other.videos, strict=True):
        frames_a, frames_b = decode(a.path)[0], decode(b.path)[0]
        assert frames_a.shape == frames_b.shape
        assert np.abs(frames_a.astype(int) - frames_b.astype(int)).max() <= 1
        frames_c = decode(c.path)[0]
        if frames_c.shape == frames_a.shape and np.abs(frames_c.astype(int) - frames_a.astype(int)).mean() < 2:
            same_looking += 1
    assert same_looking == 0


def test_render_video_is_deterministic_and_has_the_promised_shape() -> None:
    for duration, fps, width, height in ((3.05, 15, 96, 64), (4.0, 10, 128, 96), (3.3, 24, 64, 48)):
        a = render_video("grow", np.random.default_rng(5), duration=duration, fps=fps, width=width, height=height)
        b = render_video("grow", np.random.default_rng(5), duration=duration, fps=fps, width=width, height=height)
        c = render_video("grow", np.random.default_rng(6), duration=duration, fps=fps, width=width, height=height)
        assert a.dtype == np.uint8
        assert a.shape == (round(duration * fps), height, width, 3)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, c)


def test_a_class_is_the_same_whichever_classes_are_asked_for(tmp_path: Path) -> None:
    subset = dataclasses.replace(SMALL, classes=("shrink", "grow"))
    full = {(v.class_name, v.path.name): v for v in synthetic_videos(tmp_path, SMALL)}
    for video in synthetic_videos(tmp_path, subset):
        assert full[(video.class_name, video.path.name)] == video


# ---------------------------------------------------------------------------------- motion semantics


def object_track(class_name: str, seed: int, *, width: int = 160, height: int = 120) -> tuple[np.ndarray, ...]:
    """Return per-frame (x, y, area) of the pixels that differ from the clip's clean background."""
    kwargs = dict(duration=6.0, fps=4, width=width, height=height)
    frames = render_video(class_name, np.random.default_rng([seed, 11]), **kwargs)
    background = plan_video(class_name, np.random.default_rng([seed, 11]), **kwargs).background
    mask = np.abs(frames.astype(np.float32) - background[None]).max(axis=3) > OBJECT_THRESHOLD
    area = mask.sum(axis=(1, 2)).astype(float)
    assert (area > 20).all(), f"{class_name} seed {seed}: object not visible in every frame"
    ys, xs = np.mgrid[0:height, 0:width]
    x = (mask * xs).sum(axis=(1, 2)) / area
    y = (mask * ys).sum(axis=(1, 2)) / area
    return x, y, area


SEEDS = range(10)


def test_the_object_contrasts_with_every_background_pixel() -> None:
    for index, class_name in enumerate(SYNTHETIC_CLASSES * 20):
        plan = plan_video(class_name, np.random.default_rng([index, 5]), duration=3.0, fps=2, width=128, height=96)
        contrast = np.abs(plan.background - plan.color[None, None, :]).max(axis=2)
        # Wherever the object goes, it differs by at least ~70 levels (0.28 luminance) in some channel.
        assert contrast.min() > 70, (class_name, index, contrast.min())
        diameters = 2 * plan.radii / 96
        assert diameters.min() >= 0.099 and 0.15 <= diameters.max() <= 0.601, (class_name, index, diameters)


@pytest.mark.parametrize("class_name", ["move_left", "move_right", "move_up", "move_down"])
def test_movers_go_their_way_at_constant_size(class_name: str) -> None:
    for seed in SEEDS:
        x, y, area = object_track(class_name, seed)
        axis, other, side = (x, y, 160) if class_name in ("move_left", "move_right") else (y, x, 120)
        sign = -1 if class_name in ("move_left", "move_up") else 1
        assert sign * (axis[-1] - axis[0]) > 0.12 * side, (class_name, seed, axis)
        # Never a step backwards (beyond centroid jitter of noise and rasterisation).
        assert (sign * np.diff(axis) > -1.0).all(), (class_name, seed, axis)
        assert abs(other[-1] - other[0]) < abs(axis[-1] - axis[0]), (class_name, seed)
        assert area.max() < 1.3 * area.min(), (class_name, seed, area)


@pytest.mark.parametrize("class_name", ["grow", "shrink"])
def test_grow_and_shrink_change_area_in_place(class_name: str) -> None:
    for seed in SEEDS:
        x, y, area = object_track(class_name, seed)
        ratio = area[-1] / area[0]
        assert (ratio > 1.8) if class_name == "grow" else (ratio < 1 / 1.8), (class_name, seed, area)
        step = np.diff(area) if class_name == "grow" else -np.diff(area)
        assert (step > -0.05 * area.max()).all(), (class_name, seed, area)
        assert np.hypot(x[-1] - x[0], y[-1] - y[0]) < 10, (class_name, seed)


@pytest.mark.parametrize("class_name", ["left_then_right", "right_then_left"])
def test_out_and_back_classes_differ_only_in_the_order(class_name: str) -> None:
    width = 160
    for seed in SEEDS:
        x, _, _ = object_track(class_name, seed, width=width)
        sign = -1 if class_name == "left_then_right" else 1
        turn = int(np.argmax(sign * x))
        n = len(x)
        assert 0.2 * n < turn < 0.8 * n, (class_name, seed, x)
        assert sign * (x[turn] - x[0]) > 0.15 * width, (class_name, seed, x)
        assert sign * (x[turn] - x[-1]) > 0.15 * width, (class_name, seed, x)
        assert abs(x[-1] - x[0]) < 0.12 * width, (class_name, seed, x)


def start_and_visits(class_name: str, seeds: range) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the normalised first-frame x, y and radius, and every frame's x, of many random plans."""
    starts, visits = [], []
    for seed in seeds:
        # Seeded per class too: the same draws would make two classes exact mirror images of each other.
        rng = np.random.default_rng([seed, 17, SYNTHETIC_CLASSES.index(class_name)])
        plan = plan_video(class_name, rng, duration=5.0, fps=2, width=160, height=120)
        starts.append((plan.centers[0, 0] / 160, plan.centers[0, 1] / 120, plan.radii[0] / 120))
        visits.append(plan.centers[:, 0] / 160)
    starts_array = np.array(starts)
    return starts_array[:, 0], starts_array[:, 1], starts_array[:, 2], np.concatenate(visits)


def overlap_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Return the smaller of: share of ``a`` inside ``b``'s range, share of ``b`` inside ``a``'s range."""
    in_b = ((a >= b.min()) & (a <= b.max())).mean()
    in_a = ((b >= a.min()) & (b <= a.max())).mean()
    return float(min(in_a, in_b))


def test_the_first_frame_does_not_give_the_class_away() -> None:
    seeds = range(150)
    left_x, _, left_r, left_visits = start_and_visits("move_left", seeds)
    right_x, _, right_r, right_visits = start_and_visits("move_right", seeds)
    _, up_y, _, _ = start_and_visits("move_up", seeds)
    _, down_y, _, _ = start_and_visits("move_down", seeds)
    _, _, grow_r, _ = start_and_visits("grow", seeds)
    _, _, shrink_r, _ = start_and_visits("shrink", seeds)
    ltr_x, _, _, _ = start_and_visits("left_then_right", seeds)
    rtl_x, _, _, _ = start_and_visits("right_then_left", seeds)

    # Opposite directions start in overlapping ranges, not in two separate halves of the frame.
    assert overlap_fraction(left_x, right_x) > 0.2
    assert overlap_fraction(up_y, down_y) > 0.2
    assert overlap_fraction(grow_r, shrink_r) > 0.2
    assert overlap_fraction(ltr_x, rtl_x) > 0.2
    # Movers and out-and-back clips start alike: only later frames separate them.
    assert abs(np.median(left_x) - np.median(ltr_x)) < 0.05
    assert abs(np.median(right_x) - np.median(rtl_x)) < 0.05
    # Object size alone does not separate movers from grow/shrink either.
    assert overlap_fraction(left_r, grow_r) > 0.2 and overlap_fraction(right_r, shrink_r) > 0.2
    # The positions visited by move_left and move_right are distributed alike: only the order differs.
    assert abs(left_visits.mean() - right_visits.mean()) < 0.03
    assert abs(np.percentile(left_visits, 25) - np.percentile(right_visits, 25)) < 0.05
    assert abs(np.percentile(left_visits, 75) - np.percentile(right_visits, 75)) < 0.05


# ------------------------------------------------------------------------------------ safe (re)writing


def test_rerun_rewrites_only_missing_videos(tmp_path: Path) -> None:
    root = tmp_path / "data"
    summary = write_synthetic_dataset(root, TINY)
    before = {v.path: v.path.stat().st_mtime_ns for v in summary.videos}
    deleted = summary.videos[1].path
    original = decode(deleted)[0]
    deleted.unlink()

    calls: list[tuple[int, int]] = []
    again = write_synthetic_dataset(root, TINY, progress=lambda done, total: calls.append((done, total)))

    assert again.videos == summary.videos
    assert deleted.is_file()
    assert np.abs(decode(deleted)[0].astype(int) - original.astype(int)).max() <= 1
    for path, mtime in before.items():
        if path != deleted:
            assert path.stat().st_mtime_ns == mtime, path
    assert calls == [(k, 4) for k in range(1, 5)]


def test_an_interrupted_write_leaves_no_half_written_video_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    real_encode = synthetic_encode.encode_h264
    written: list[Path] = []

    def encode_then_crash(path: Path, frames: np.ndarray, fps: int) -> None:
        if written:
            path.write_bytes(b"half a video")
            raise KeyboardInterrupt
        real_encode(path, frames, fps)
        written.append(path)

    monkeypatch.setattr(synthetic_encode, "encode_h264", encode_then_crash)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_dataset(root, TINY)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["move_left/move_left_000.mp4", "synthetic.json"]

    monkeypatch.setattr(synthetic_encode, "encode_h264", real_encode)
    summary = write_synthetic_dataset(root, TINY)
    assert all(v.path.is_file() for v in summary.videos)
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]


def test_leftovers_of_a_killed_write_are_removed_by_the_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    real_encode = synthetic_encode.encode_h264
    temporaries: list[Path] = []

    def encode_then_stop(path: Path, frames: np.ndarray, fps: int) -> None:
        temporaries.append(path)
        if len(temporaries) > 1:
            raise KeyboardInterrupt
        real_encode(path, frames, fps)

    monkeypatch.setattr(synthetic_encode, "encode_h264", encode_then_stop)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_dataset(root, TINY)
    # SIGKILL, unlike Ctrl-C, gives no chance to clean up: put back what it would have left.
    leftover = temporaries[-1]
    assert not leftover.exists() and leftover.parent == root / "move_left"
    assert leftover.name.startswith(".move_left_001.mp4.") and leftover.name.endswith(".tmp")
    leftover.write_bytes(b"half a video")
    unrelated = root / "move_left" / ".notes.txt"
    unrelated.write_text("not ours")

    monkeypatch.setattr(synthetic_encode, "encode_h264", real_encode)
    summary = write_synthetic_dataset(root, TINY)
    assert all(v.path.is_file() for v in summary.videos)
    assert [p for p in root.rglob("*") if p.name.startswith(".")] == [unrelated]


def test_written_files_have_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    summary = write_synthetic_dataset(tmp_path / "data", TINY)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    expected = plain.stat().st_mode & 0o777
    for path in [summary.root / "synthetic.json", *(v.path for v in summary.videos)]:
        assert path.stat().st_mode & 0o777 == expected, path


def test_a_different_spec_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_synthetic_dataset(root, TINY)
    manifest = (root / "synthetic.json").read_text()
    with pytest.raises(ConfigError, match="different spec"):
        write_synthetic_dataset(root, dataclasses.replace(TINY, seed=TINY.seed + 1))
    assert (root / "synthetic.json").read_text() == manifest
    assert sorted(p.name for p in root.iterdir()) == ["grow", "move_left", "synthetic.json"]


def test_a_foreign_folder_is_never_written_into(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        write_synthetic_dataset(foreign, TINY)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert (foreign / "notes.txt").read_text() == "keep me"

    a_file = tmp_path / "file.mp4"
    a_file.write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file"):
        write_synthetic_dataset(a_file, TINY)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "synthetic.json").write_text("{not json")
    with pytest.raises(ConfigError):
        write_synthetic_dataset(broken, TINY)
    (broken / "synthetic.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="not an avc synthetic"):
        write_synthetic_dataset(broken, TINY)


def test_an_existing_empty_folder_is_used(tmp_path: Path) -> None:
    summary = write_synthetic_dataset(tmp_path, TINY)
    assert all(v.path.is_file() for v in summary.videos)


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "changes",
    [
        {"videos_per_class": 0},
        {"videos_per_class": 1.5},
        {"seed": -1},
        {"classes": ("move_left",)},
        {"classes": ("move_left", "jump")},
        {"classes": ("grow", "grow")},
        {"min_duration": 0.0},
        {"min_duration": 5.0, "max_duration": 4.0},
        {"max_duration": float("nan")},
        {"fps_choices": ()},
        {"fps_choices": (0,)},
        {"fps_choices": (12.5,)},
        {"sizes": ()},
        {"sizes": ((127, 96),)},
        {"sizes": ((128, 95),)},
        {"sizes": ((16, 16),)},
        {"sizes": ((128,),)},
        {"sizes": 128},
        {"classes": ("move_left", 3)},
    ],
)
def test_bad_spec_values_are_config_errors(changes: dict) -> None:
    with pytest.raises(ConfigError):
        SyntheticSpec(**{**SMALL.to_dict(), **changes})


def test_the_default_spec_is_the_documented_one() -> None:
    spec = SyntheticSpec()
    assert spec.classes == SYNTHETIC_CLASSES and len(SYNTHETIC_CLASSES) == 8
    assert spec.videos_per_class == 15
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in spec.sizes)
    videos = synthetic_videos("unused", spec)
    assert len(videos) == 120
    mean = np.mean([v.duration for v in videos])
    assert 6.0 < mean < 9.0
    assert SyntheticSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_numpy_numbers_are_stored_as_plain_python_numbers() -> None:
    spec = SyntheticSpec(
        videos_per_class=np.int64(2), seed=np.int64(1), fps_choices=[np.int64(10)], sizes=[[np.int64(96), 64]]
    )
    assert spec == SyntheticSpec(videos_per_class=2, seed=1, fps_choices=(10,), sizes=((96, 64),))
    assert type(spec.seed) is int and type(spec.sizes[0][0]) is int
    json.dumps(spec.to_dict())


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        SyntheticSpec.from_dict({**SMALL.to_dict(), "colour": "red"})
    with pytest.raises(ConfigError):
        SyntheticSpec.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


def test_render_video_rejects_bad_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="unknown"):
        render_video("jump", rng, duration=3.0, fps=10, width=96, height=64)
    with pytest.raises(ConfigError, match="no frames"):
        render_video("grow", rng, duration=0.01, fps=10, width=96, height=64)
    with pytest.raises(ConfigError):
        render_video("grow", rng, duration=3.0, fps=10, width=8, height=64)
