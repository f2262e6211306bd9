"""Prediction from a checkpoint alone: probabilities, attention over time, clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.errors import CheckpointError, VideoDecodeError
from core.predict import Predictor, predict
from core.experiment import run_experiment


@pytest.fixture(scope="module")
def checkpoint(easy_dataset: Path, easy_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("predict-run")
    run_experiment(easy_config(easy_dataset, "cnn-lstm-attention", epochs=3), run_dir=run_dir,
                   cache_dir=tmp_path_factory.mktemp("cache"), num_workers=0)
    return run_dir / "checkpoint.pt"


def test_probabilities_and_attention(checkpoint: Path, easy_dataset: Path) -> None:
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    result = predict(checkpoint, video, top_k=3)
    assert len(result.top) == 3
    probs = [p for _, p in result.top]
    assert probs == sorted(probs, reverse=True)
    assert math.isclose(sum(result.probabilities), 1.0, rel_tol=1e-5)
    assert {c for c, _ in result.top} <= {"grow", "move_left", "move_right", "shrink"}
    assert result.attention is not None
    assert len(result.attention) == result.frames_used == len(result.times)
    assert math.isclose(sum(result.attention), 1.0, rel_tol=1e-5)
    assert all(w >= 0 for w in result.attention)
    assert result.times[0] == 0.0


def test_prediction_matches_the_training_pipeline(checkpoint: Path, easy_dataset: Path) -> None:
    """Live extraction at predict time gives the same logits as the cached training features."""
    predictor = Predictor(checkpoint, device="cpu")
    video = sorted((easy_dataset / "shrink").glob("*.mp4"))[0]
    first = predictor.predict(video)
    again = predictor.predict(video)
    assert first.probabilities == again.probabilities
    fresh = Predictor(checkpoint, device="cpu").predict(video)
    assert torch.allclose(torch.tensor(first.probabilities), torch.tensor(fresh.probabilities))


def test_heads_without_attention_report_none(easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    run_experiment(easy_config(easy_dataset, "cnn-lstm", epochs=1), run_dir=tmp_path / "r",
                   cache_dir=tmp_path / "c", num_workers=0)
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    assert predict(tmp_path / "r" / "checkpoint.pt", video).attention is None


def test_bad_inputs(checkpoint: Path, tmp_path: Path, shared_data: Path) -> None:
    with pytest.raises(VideoDecodeError, match="corrupted.mp4"):
        predict(checkpoint, shared_data / "videos" / "edge_cases" / "corrupted.mp4")
    with pytest.raises(VideoDecodeError, match="missing.mp4"):
        predict(checkpoint, tmp_path / "missing.mp4")
    with pytest.raises(CheckpointError, match="does not exist"):
        predict(tmp_path / "nope.pt", tmp_path / "x.mp4")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(junk)


def test_real_clip_is_classified(checkpoint: Path, shared_data: Path) -> None:
    result = predict(checkpoint, shared_data / "videos" / "v_SoccerJuggling_g23_c01.avi")
    assert result.frames_sampled == 8  # ABDN's 1-fps loop: t = 0..7 s of 8.008 s
    assert math.isclose(sum(result.probabilities), 1.0, rel_tol=1e-5)
