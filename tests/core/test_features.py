"""The feature cache: keyed by content, reused without running the CNN, resumable, atomic."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core import features as features_mod
from core.backbones import build_backbone
from core.events import ExtractionStarted, VideoExtracted
from core.features import ExtractionSpec, FeatureCache, extract_features
from core.sampling import Sampling


def _videos(root: Path, n: int | None = None) -> list[Path]:
    paths = sorted(root.glob("*/*.mp4"))
    return paths[:n] if n else paths


class CountingBackbone(torch.nn.Module):
    """Wraps a backbone and counts forward calls, to prove the cache skips the CNN."""

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner
        self.input_size = inner.input_size
        self.calls = 0

    def preprocess(self, frames):
        return self.inner.preprocess(frames)

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.fixture
def spec() -> ExtractionSpec:
    return ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                 sampling=Sampling("fps", fps=1.0))


def test_second_extraction_reads_the_cache(easy_dataset: Path, spec, tmp_path: Path) -> None:
    videos = _videos(easy_dataset, 6)
    cache = FeatureCache(tmp_path / "cache")
    net = CountingBackbone(build_backbone("tinycnn", weights="none", input_size=32))
    first = extract_features(videos, spec, cache, backbone=net, num_workers=0, batch_frames=16)
    assert first.extracted == 6 and first.cached == 0 and net.calls > 0
    entry = cache.load(spec, first.hashes[videos[0]])
    assert entry.features.dtype == np.float16
    assert entry.features.shape[1:] == (128, 2, 2)
    assert entry.features.shape[0] == len(entry.times) == len(entry.indices)
    assert entry.times[0] == 0.0 and np.allclose(np.diff(entry.times), 1.0, atol=0.05)

    net.calls = 0
    events = []
    second = extract_features(videos, spec, cache, backbone=net, num_workers=0,
                              callbacks=[events.append])
    assert second.extracted == 0 and second.cached == 6
    assert net.calls == 0
    assert isinstance(events[0], ExtractionStarted) and events[0].cached_videos == 6


def test_cache_is_keyed_by_content_not_path(easy_dataset: Path, spec, tmp_path: Path) -> None:
    video = _videos(easy_dataset, 1)[0]
    copy = tmp_path / "renamed.mp4"
    shutil.copy(video, copy)
    cache = FeatureCache(tmp_path / "cache")
    extract_features([video], spec, cache, num_workers=0)
    again = extract_features([copy], spec, cache, num_workers=0)
    assert again.cached == 1 and again.extracted == 0
    assert again.hashes[copy] == cache.video_hash(video)


def test_settings_change_the_key(spec) -> None:
    other_size = ExtractionSpec.create("tinycnn", weights="none", input_size=48,
                                       sampling=spec.sampling)
    other_sampling = ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                           sampling=Sampling("uniform", num_frames=4))
    other_seed = ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                       sampling=spec.sampling, init_seed=1)
    other_resize = ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                         sampling=spec.sampling, resize="bilinear")
    keys = {s.key() for s in (spec, other_size, other_sampling, other_seed, other_resize)}
    assert len(keys) == 5
    assert spec.key() == ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                               sampling=Sampling("fps", fps=1.0)).key()


def test_interrupted_extraction_resumes(easy_dataset: Path, spec, tmp_path: Path,
                                        monkeypatch) -> None:
    videos = _videos(easy_dataset, 6)
    cache = FeatureCache(tmp_path / "cache")
    real_save = FeatureCache.save
    saved = []

    def failing_save(self, spec_, digest, entry):
        if len(saved) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the 4th entry was written
        saved.append(digest)
        return real_save(self, spec_, digest, entry)

    monkeypatch.setattr(FeatureCache, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        extract_features(videos, spec, cache, num_workers=0, batch_frames=1)
    monkeypatch.setattr(FeatureCache, "save", real_save)
    # No temporary or partial entry is left where the cache would read it.
    entries = list(cache.spec_dir(spec).rglob("*.npz"))
    assert len(entries) == 3
    assert not list(cache.spec_dir(spec).rglob("*.tmp"))
    net = CountingBackbone(build_backbone("tinycnn", weights="none", input_size=32))
    resumed = extract_features(videos, spec, cache, backbone=net, num_workers=0)
    assert resumed.cached == 3 and resumed.extracted == 3


def test_a_crash_mid_write_leaves_no_valid_looking_entry(easy_dataset: Path, spec,
                                                         tmp_path: Path, monkeypatch) -> None:
    video = _videos(easy_dataset, 1)[0]
    cache = FeatureCache(tmp_path / "cache")

    real_replace = features_mod.os.replace
    crashed = []

    def crash(src, dst):
        if str(dst).endswith(".npz"):
            crashed.append(dst)
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(features_mod.os, "replace", crash)
    with pytest.raises(OSError):
        extract_features([video], spec, cache, num_workers=0)
    monkeypatch.undo()
    assert crashed, "the entry write was not reached"
    assert not list(cache.root.rglob("*.npz"))
    assert not list(cache.root.rglob("*.tmp"))
    digest = cache.video_hash(video)
    assert not cache.has(spec, digest)


def test_unreadable_videos_are_reported_not_dropped(easy_dataset: Path, spec, tmp_path: Path,
                                                    shared_data: Path) -> None:
    good = _videos(easy_dataset, 2)
    bad = tmp_path / "broken.mp4"
    bad.write_text("this is not a video")
    corrupted = shared_data / "videos" / "edge_cases" / "corrupted.mp4"
    events = []
    report = extract_features([*good, bad, corrupted], spec, FeatureCache(tmp_path / "c"),
                              num_workers=1, callbacks=[events.append])
    assert set(report.failed) == {bad, corrupted}
    assert "broken.mp4" in report.failed[bad]
    assert "corrupted.mp4" in report.failed[corrupted]
    assert set(report.hashes) == set(good)
    errors = [e for e in events if isinstance(e, VideoExtracted) and e.error]
    assert len(errors) == 2


def test_worker_pipeline_matches_in_process(easy_dataset: Path, spec, tmp_path: Path) -> None:
    videos = _videos(easy_dataset, 4)
    a = FeatureCache(tmp_path / "a")
    b = FeatureCache(tmp_path / "b")
    ra = extract_features(videos, spec, a, num_workers=0, batch_frames=5)
    rb = extract_features(videos, spec, b, num_workers=2, batch_frames=64)
    for video in videos:
        fa = a.load(spec, ra.hashes[video]).features.astype(np.float32)
        fb = b.load(spec, rb.hashes[video]).features.astype(np.float32)
        assert fa.shape == fb.shape
        assert np.abs(fa - fb).max() < 2e-2


def test_corrupt_cache_entry_is_a_clear_error(easy_dataset: Path, spec, tmp_path: Path) -> None:
    from core.errors import FeatureCacheError

    video = _videos(easy_dataset, 1)[0]
    cache = FeatureCache(tmp_path / "cache")
    report = extract_features([video], spec, cache, num_workers=0)
    path = cache.entry_path(spec, report.hashes[video])
    path.write_bytes(b"garbage")
    with pytest.raises(FeatureCacheError, match="unreadable"):
        cache.load(spec, report.hashes[video])


def test_the_lock_makes_a_second_extractor_wait(spec, tmp_path: Path) -> None:
    import threading

    cache = FeatureCache(tmp_path / "cache")
    entered = threading.Event()

    def second() -> None:
        with FeatureCache(cache.root).lock(spec):
            entered.set()

    with cache.lock(spec):
        other = threading.Thread(target=second, daemon=True)
        other.start()
        # Bounded: the other extractor must still be waiting after half a second.
        assert not entered.wait(0.5), "the lock let a second holder in"
    assert entered.wait(10), "the lock was not released"
    other.join(10)


def test_the_packer_makes_batches_of_one_shape_across_videos(monkeypatch) -> None:
    from core.backbones import build_backbone
    from core.backbones import network as network_mod
    from core.features import _FramePacker

    backbone = build_backbone("tinycnn", weights="none", input_size=32)
    shapes = []
    real = network_mod._forward

    def spy(backbone, frames, device, precision):
        shapes.append(frames.shape[0])
        return real(backbone, frames, device, precision)

    monkeypatch.setattr(network_mod, "_forward", spy)
    packer = _FramePacker(backbone, torch.device("cpu"), batch_frames=4)
    videos = {name: torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8)
              for name, n in (("a", 3), ("b", 5), ("c", 2))}
    done = []
    for name, frames in videos.items():
        done += packer.add(name, frames)
    done += packer.flush()
    assert shapes == [4, 4, 2]  # one shape but for the last batch; b spans two batches
    assert [name for name, _ in done] == ["a", "b", "c"]
    for name, maps in done:
        alone = network_mod.extract_maps(backbone, videos[name], torch.device("cpu"))
        assert maps.shape == alone.shape
        torch.testing.assert_close(maps.float(), alone.float(), atol=2e-3, rtol=2e-3)
