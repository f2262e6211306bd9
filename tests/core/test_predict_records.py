"""Prediction for models of precomputed features: every video of a YouTube-8M frame-level TFRecord
file, built into a sequence exactly as training built it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from core.data.tfrecord import TFRecordError, write_records
from core.data.youtube8m import read_frame_level, synthesize
from core.errors import AvcError, ConfigError
from core.experiment import ExperimentResult, run_experiment
from core.predict import Predictor

NUM_CLASSES = 6


@pytest.fixture(scope="module")
def yt8m_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExperimentResult]:
    """A tiny NeXtVLAD trained on synthetic YouTube-8M records (split 1: tested on validate)."""
    root = tmp_path_factory.mktemp("yt8m-data")
    synthesize(root, videos_per_split=40, num_classes=NUM_CLASSES, frames=(5, 20))
    config = ExperimentConfig(
        data=DataConfig(str(root), layout="youtube8m", split="1"),
        features=FeatureConfig("yt8m"),
        head=HeadConfig("nextvlad", mask=True,
                        options={"audio_dim": 128, "hidden": 64, "clusters": 8}),
        train=TrainConfig("abdn", epochs=6, batch_size=8, lr=1e-3),
    )
    run_dir = tmp_path_factory.mktemp("yt8m-run")
    result = run_experiment(config, run_dir=run_dir, cache_dir=run_dir / "cache")
    return root, result


def _selected(run_dir: Path) -> Path:
    """The checkpoint the run's test metrics come from (as `avc predict RUN_DIR` picks it)."""
    best = run_dir / "best.pt"
    return best if best.exists() else run_dir / "checkpoint.pt"


@pytest.fixture(scope="module")
def predictor(yt8m_run) -> Predictor:
    _, result = yt8m_run
    return Predictor(_selected(result.run_dir), device="cpu")


def test_every_record_is_classified_as_in_training(yt8m_run, predictor: Predictor) -> None:
    root, result = yt8m_run
    path = root / "validate0000.tfrecord"
    assert predictor.precomputed and predictor.backbone is None
    predictions, problems = predictor.predict_records(path, top_k=3)
    videos, _ = read_frame_level(path, num_classes=NUM_CLASSES)
    assert problems == []
    assert [p.video for p in predictions] == [f"{path}#{v.id}" for v in videos]
    hits = 0
    for prediction, video in zip(predictions, videos):
        assert len(prediction.top) == 3 and len(prediction.probabilities) == NUM_CLASSES
        probs = [p for _, p in prediction.top]
        assert probs == sorted(probs, reverse=True)
        assert all(0.0 < p < 1.0 for p in prediction.probabilities)
        # Multi-label: one sigmoid per class, not a distribution over the classes.
        assert not math.isclose(sum(prediction.probabilities), 1.0, abs_tol=1e-3)
        assert prediction.attention is None  # NeXtVLAD has no temporal attention
        assert prediction.frames_sampled == video.num_frames
        assert prediction.frames_used == min(video.num_frames, result.frames)
        assert prediction.times == [float(t) for t in range(prediction.frames_used)]
        assert prediction.sequence_length == result.frames
        hits += predictor.classes.index(prediction.label) in video.labels
    hit1 = hits / len(predictions)
    assert hit1 >= 0.7
    # The same data, the same checkpoint, the same sequences: the run's own Hit@1.
    assert hit1 == pytest.approx(result.test.top1, abs=1e-6)


def test_damaged_record_is_skipped_and_reported(yt8m_run, predictor: Predictor,
                                                tmp_path: Path) -> None:
    root, _ = yt8m_run
    damaged = tmp_path / "validate0000.tfrecord"
    shutil.copy(root / "validate0000.tfrecord", damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one record's payload
    damaged.write_bytes(bytes(data))
    predictions, problems = predictor.predict_records(damaged)
    assert len(predictions) == 39
    [problem] = problems
    assert str(damaged) in problem and "bad data CRC" in problem
    assert len({p.video for p in predictions}) == 39


def test_unreadable_files_are_clear_errors(predictor: Predictor, tmp_path: Path) -> None:
    with pytest.raises(TFRecordError, match="does not exist"):
        predictor.predict_records(tmp_path / "missing.tfrecord")
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"\x00\x01not a tfrecord" * 50)
    with pytest.raises(TFRecordError, match="not a YouTube-8M frame-level TFRecord"):
        predictor.predict_records(junk)
    with pytest.raises(TFRecordError, match="is a folder"):
        predictor.predict_records(tmp_path)
    empty = write_records(tmp_path / "empty.tfrecord", [])
    assert predictor.predict_records(empty) == ([], [])


def test_a_video_file_is_refused_clearly(predictor: Predictor, easy_dataset: Path) -> None:
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    with pytest.raises(ConfigError, match="not video files") as caught:
        predictor.predict(video)
    assert "TFRecord" in caught.value.hint


def test_records_are_refused_by_a_video_model(easy_dataset: Path, easy_config, yt8m_run,
                                              tmp_path: Path) -> None:
    root, _ = yt8m_run
    run_experiment(easy_config(easy_dataset, epochs=1), run_dir=tmp_path / "run",
                   cache_dir=tmp_path / "cache", num_workers=0)
    video_model = Predictor(tmp_path / "run" / "checkpoint.pt", device="cpu")
    assert not video_model.precomputed
    with pytest.raises(AvcError, match="not YouTube-8M records") as caught:
        video_model.predict_records(root / "validate0000.tfrecord")
    assert isinstance(caught.value, ConfigError)
