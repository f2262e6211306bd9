"""No repeated work in one run: the weights file is hashed once, each cache entry (or each video's
given features) is read once, and prediction computes its features with the very forward pass the
feature cache was filled with."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import core.backbones.network as network_mod
import core.backbones.weights as weights_mod
from core.backbones import TinyCNN, weights_id
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from core.data import load_dataset
from core.data.youtube8m import synthesize
from core.errors import FeatureCacheError
from core.experiment import extraction_spec, run_experiment
from core.features import CACHE_FORMAT, ExtractionSpec, FeatureCache, extract_features
from core.predict import Predictor
from core.sampling import Sampling

ONE_FPS = Sampling("fps", fps=1.0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TinyCNN state-dict file written by the test: ``--weights FILE``."""
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("weights") / "tiny.pth"
    torch.save(TinyCNN().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def eight_videos(easy_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-folder dataset of 8 videos: the first two of each easy class."""
    root = tmp_path_factory.mktemp("eight") / "data"
    for folder in sorted(p for p in easy_dataset.iterdir() if p.is_dir()):
        (root / folder.name).mkdir(parents=True)
        for video in sorted(folder.glob("*.mp4"))[:2]:
            shutil.copy(video, root / folder.name / video.name)
    return root


def _config(root: Path, weights: Path) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(str(root)),
        features=FeatureConfig("tinycnn", weights=str(weights), input_size=32, sampling=ONE_FPS),
        head=HeadConfig("cnn-lstm-attention"),
        train=TrainConfig("abdn", epochs=1, batch_size=4),
    )


@dataclasses.dataclass
class CountedRun:
    config: ExperimentConfig
    run_dir: Path
    cache: FeatureCache
    digests: int
    loads: Counter


@pytest.fixture(scope="module")
def counted_run(eight_videos: Path, weights_file: Path,
                tmp_path_factory: pytest.TempPathFactory) -> CountedRun:
    """One 8-video run, counting weights-file hashes and ``FeatureCache.load`` calls per entry."""
    config = _config(eight_videos, weights_file)
    cache = FeatureCache(tmp_path_factory.mktemp("cache"))
    run_dir = tmp_path_factory.mktemp("run")
    digests = 0
    loads: Counter = Counter()
    real_digest, real_load = weights_mod.file_digest, FeatureCache.load

    def counting_digest(path: Path) -> str:
        nonlocal digests
        digests += 1
        return real_digest(path)

    def counting_load(self: FeatureCache, spec: ExtractionSpec, video_hash: str):
        loads[video_hash] += 1
        return real_load(self, spec, video_hash)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(weights_mod, "file_digest", counting_digest)
        patch.setattr(FeatureCache, "load", counting_load)
        result = run_experiment(config, run_dir=run_dir, cache_dir=cache.root, num_workers=0)
    assert result.test is not None and result.test.count == 3  # ceil(0.3 × 8) test videos
    return CountedRun(config, run_dir, cache, digests, loads)


def test_the_weights_file_is_hashed_once_per_run(counted_run: CountedRun) -> None:
    assert counted_run.digests == 1


def test_each_cache_entry_is_loaded_once_per_run(counted_run: CountedRun) -> None:
    spec = extraction_spec(counted_run.config)
    entries = {p.stem for p in counted_run.cache.spec_dir(spec).rglob("*.npz")}
    assert len(entries) == 8
    assert set(counted_run.loads) == entries
    assert set(counted_run.loads.values()) == {1}, counted_run.loads


def test_the_key_is_computed_once_per_spec(weights_file: Path, monkeypatch) -> None:
    calls = []
    real_digest = weights_mod.file_digest
    monkeypatch.setattr(weights_mod, "file_digest",
                        lambda path: calls.append(path) or real_digest(path))
    spec = ExtractionSpec.create("tinycnn", weights=str(weights_file), input_size=32,
                                 sampling=ONE_FPS)
    keys = {spec.key() for _ in range(42)}
    identity = spec.identity()
    assert len(keys) == 1 and len(calls) == 1
    # The identity and the key are what they were: the weights by content, the settings.
    assert identity == {"format": CACHE_FORMAT, "backbone": "tinycnn",
                        "weights": weights_id("tinycnn", str(weights_file)),
                        "input_size": 32, "sampling": ONE_FPS.key(), "resize": "area"}
    assert spec.key().startswith("tinycnn-32-")
    # The remembered key is not a field: specs still compare, hash and print by their settings.
    fresh = ExtractionSpec.create("tinycnn", weights=str(weights_file), input_size=32,
                                  sampling=ONE_FPS)
    assert spec == fresh and hash(spec) == hash(fresh)
    assert [f.name for f in dataclasses.fields(spec)] == [
        "backbone", "weights", "input_size", "sampling", "init_seed", "resize", "precision",
        "compile", "decoder"]
    assert "key" not in repr(spec)


def test_frame_counts_come_from_the_entry_headers(counted_run: CountedRun) -> None:
    spec = extraction_spec(counted_run.config)
    for path in counted_run.cache.spec_dir(spec).rglob("*.npz"):
        entry = counted_run.cache.load(spec, path.stem)
        assert counted_run.cache.frame_count(spec, path.stem) == entry.num_frames > 0
    with pytest.raises(FeatureCacheError, match="no cached features"):
        counted_run.cache.frame_count(spec, "ab" * 20)


def test_a_damaged_entry_header_is_a_clear_error(counted_run: CountedRun,
                                                 tmp_path: Path) -> None:
    spec = extraction_spec(counted_run.config)
    cache = FeatureCache(tmp_path / "cache")
    source = next(counted_run.cache.spec_dir(spec).rglob("*.npz"))
    target = cache.entry_path(spec, source.stem)
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes()[:100])
    with pytest.raises(FeatureCacheError, match="unreadable"):
        cache.frame_count(spec, source.stem)


def test_prediction_uses_the_extraction_forward(counted_run: CountedRun, eight_videos: Path,
                                                tmp_path: Path, monkeypatch) -> None:
    """Prediction's maps are the cached ones, computed by the one shared forward pass."""
    seen: list[str] = []
    real_forward = network_mod._forward

    def spy(backbone, frames, device, precision):
        seen.append((device.type, precision))
        return real_forward(backbone, frames, device, precision)

    monkeypatch.setattr(network_mod, "_forward", spy)
    video = sorted((eight_videos / "grow").glob("*.mp4"))[0]
    predictor = Predictor(counted_run.run_dir / "checkpoint.pt", device="cpu")
    clip, maps = predictor.encode(video)
    assert seen, "prediction did not go through the shared forward pass"
    predicted, seen[:] = set(seen), []
    spec = extraction_spec(counted_run.config)
    cache = FeatureCache(tmp_path / "cache")
    report = extract_features([video], spec, cache, device="cpu", num_workers=0)
    assert seen, "extraction did not go through the shared forward pass"
    assert set(seen) == predicted == {("cpu", spec.precision)}  # auto resolves alike in both
    entry = cache.load(spec, report.hashes[video])
    assert maps.dtype == entry.features.dtype == np.float16
    assert np.array_equal(maps, entry.features)
    assert np.array_equal(clip.indices, entry.indices)
    # And the same as the run's own cache, filled with the other videos in the same batches.
    trained = counted_run.cache.load(spec, report.hashes[video]).features
    assert np.allclose(maps.astype(np.float32), trained.astype(np.float32), atol=2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_prediction_sees_the_cached_precision(counted_run: CountedRun,
                                                      eight_videos: Path,
                                                      tmp_path: Path) -> None:
    """On CUDA extraction runs under float16 autocast and channels_last; prediction must too, or
    the head sees other features than it was trained on."""
    video = sorted((eight_videos / "shrink").glob("*.mp4"))[0]
    spec = extraction_spec(counted_run.config)
    cache = FeatureCache(tmp_path / "cache")
    report = extract_features([video], spec, cache, device="cuda", num_workers=0)
    cached = cache.load(spec, report.hashes[video]).features
    _, maps = Predictor(counted_run.run_dir / "checkpoint.pt", device="cuda").encode(video)
    assert np.array_equal(maps, cached)


@pytest.fixture(scope="module")
def yt8m_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yt8m")
    synthesize(root, videos_per_split=4, num_classes=4, frames=(4, 8), seed=5)
    return root


def test_given_features_are_asked_for_once_per_run(yt8m_root: Path, tmp_path: Path) -> None:
    config = ExperimentConfig(
        data=DataConfig(str(yt8m_root), layout="youtube8m", split="1"),
        features=FeatureConfig("yt8m"),
        head=HeadConfig("nextvlad", mask=True,
                        options={"audio_dim": 128, "hidden": 32, "clusters": 4}),
        train=TrainConfig("abdn", epochs=1, batch_size=4),
    )
    dataset = load_dataset(yt8m_root, layout="youtube8m", split="1")
    asked: Counter = Counter()
    real = dataset.load_features

    def counting(items):
        asked.update(item.path for item in items)
        return real(items)

    counted = dataclasses.replace(dataset, load_features=counting)
    run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                   dataset=counted)
    assert set(asked) == {item.path for item in dataset.items()}
    assert set(asked.values()) == {1}, asked
