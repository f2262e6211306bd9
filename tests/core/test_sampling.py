"""Tests of core.sampling: the frame indices each sampling mode picks; parsing, keys and dicts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from core.errors import ConfigError
from core.sampling import Sampling, sampled_indices

ONE_FPS = Sampling(mode="fps", fps=1.0)


def test_configs_load_no_decoder() -> None:
    # A config holds a Sampling; reading one must not load the decoding module or a decoder.
    code = (
        "import sys, core.config; "
        "print(sorted(m for m in ('core.video', 'av', 'decord', 'torch') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# sampled_indices


def test_fps_mode_indices() -> None:
    ucf = sampled_indices(240, 30000 / 1001, ONE_FPS)
    assert ucf.dtype == np.int64
    # ABDN's loop: t = 8 s is frame round(239.76) = 240, past the last frame, so it stops there.
    assert ucf.tolist() == [0, 30, 60, 90, 120, 150, 180, 210]
    assert sampled_indices(241, 30000 / 1001, ONE_FPS).tolist()[-1] == 240
    assert sampled_indices(300, 30.0, ONE_FPS).tolist() == list(range(0, 300, 30))  # t = 10 s is the end
    assert sampled_indices(301, 30.0, ONE_FPS).tolist() == list(range(0, 301, 30))
    # 2 fps from 25 fps: steps of 12.5 frames, halves rounded up.
    assert sampled_indices(60, 25.0, Sampling(fps=2.0)).tolist() == [0, 13, 25, 38, 50]
    assert sampled_indices(300, 30.0, Sampling(fps=0.5)).tolist() == [0, 60, 120, 180, 240]


def test_fps_mode_short_videos_and_cap() -> None:
    assert sampled_indices(3, 30.0, ONE_FPS).tolist() == [0]
    assert sampled_indices(1, 30.0, ONE_FPS).tolist() == [0]
    assert sampled_indices(30, 30.0, ONE_FPS).tolist() == [0]
    assert sampled_indices(31, 30.0, ONE_FPS).tolist() == [0, 30]
    assert sampled_indices(300, 30.0, Sampling(fps=1.0, max_frames=4)).tolist() == [0, 30, 60, 90]
    assert sampled_indices(300, 30.0, Sampling(fps=1.0, max_frames=400)).tolist() == list(range(0, 300, 30))


def test_uniform_mode_indices() -> None:
    assert sampled_indices(10, 25.0, Sampling(mode="uniform", num_frames=4)).tolist() == [1, 3, 6, 8]
    assert sampled_indices(100, 25.0, Sampling(mode="uniform", num_frames=1)).tolist() == [50]
    # Fewer frames than asked: repeated, sorted, always num_frames entries.
    eight = Sampling(mode="uniform", num_frames=8)
    assert sampled_indices(3, 30.0, eight).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert sampled_indices(1, 30.0, Sampling(mode="uniform", num_frames=4)).tolist() == [0, 0, 0, 0]


def test_segments_mode_without_rng_takes_centres() -> None:
    tsn = Sampling(mode="segments", num_frames=3)
    assert sampled_indices(90, 30.0, tsn).tolist() == [15, 45, 75]
    assert sampled_indices(2, 30.0, tsn).tolist() == [0, 1, 1]


def test_segments_mode_with_rng_is_random_within_segments_and_seeded() -> None:
    tsn = Sampling(mode="segments", num_frames=8)
    picks = [sampled_indices(100, 25.0, tsn, rng=np.random.default_rng(seed)) for seed in range(20)]
    np.testing.assert_array_equal(picks[3], sampled_indices(100, 25.0, tsn, rng=np.random.default_rng(3)))
    assert len({tuple(p) for p in picks}) > 10
    starts = np.floor(np.arange(8) * 100 / 8)
    ends = np.floor(np.arange(1, 9) * 100 / 8)
    for p in picks:
        assert np.all(p >= starts) and np.all(p < ends)
    short = sampled_indices(5, 25.0, Sampling(mode="segments", num_frames=12), rng=np.random.default_rng(0))
    assert len(short) == 12 and np.all(np.diff(short) >= 0) and short.min() >= 0 and short.max() <= 4
    assert set(short.tolist()) == {0, 1, 2, 3, 4}


def test_all_mode_indices() -> None:
    assert sampled_indices(5, 30.0, Sampling(mode="all")).tolist() == [0, 1, 2, 3, 4]
    assert sampled_indices(500, 30.0, Sampling(mode="all", max_frames=3)).tolist() == [0, 1, 2]


def test_sampled_indices_rejects_empty_videos() -> None:
    with pytest.raises(ValueError):
        sampled_indices(0, 30.0, ONE_FPS)
    with pytest.raises(ValueError):
        sampled_indices(10, 0.0, ONE_FPS)


# --------------------------------------------------------------------------------------------------
# Sampling


@pytest.mark.parametrize(
    ("text", "expected", "key"),
    [
        ("fps:1", Sampling(mode="fps", fps=1.0), "fps1-all"),
        ("fps:2:max=10", Sampling(mode="fps", fps=2.0, max_frames=10), "fps2-max10"),
        (" FPS:0.5 ", Sampling(mode="fps", fps=0.5), "fps0.5-all"),
        ("uniform:16", Sampling(mode="uniform", num_frames=16), "uniform16"),
        ("segments:12", Sampling(mode="segments", num_frames=12), "segments12"),
        ("all", Sampling(mode="all"), "all"),
        ("all:max=300", Sampling(mode="all", max_frames=300), "all-max300"),
    ],
)
def test_sampling_parse_and_key(text: str, expected: Sampling, key: str) -> None:
    parsed = Sampling.parse(text)
    assert parsed == expected
    assert parsed.key() == key
    assert Sampling.from_dict(parsed.to_dict()) == parsed


@pytest.mark.parametrize(
    "text",
    ["", "fps", "fps:0", "fps:-1", "fps:abc", "fps:1:max=0", "fps:1:cap=3", "uniform", "uniform:0",
     "uniform:2.5", "segments:4:5", "all:10", "every:3", "fps:1:max=2:x"],
)
def test_sampling_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Sampling.parse(text)
    assert "fps:<rate>" in str(caught.value) and "segments:<n>" in str(caught.value)


def test_sampling_key_and_dict() -> None:
    assert Sampling().key() == "fps1-all"
    assert Sampling(fps=1).key() == Sampling(fps=1.0).key() and Sampling(fps=1) == Sampling(fps=1.0)
    # Fields the mode ignores do not change the key.
    assert Sampling(mode="uniform", num_frames=8, fps=3.0).key() == "uniform8"
    assert Sampling(mode="uniform", num_frames=8, fps=3.0).key() == Sampling(mode="uniform").key()
    assert Sampling(fps=29.97).key() == "fps29.97-all"
    assert Sampling(fps=1.0).key() != Sampling(fps=1.0000001).key()
    d = Sampling(mode="segments", num_frames=12).to_dict()
    assert d == {"mode": "segments", "fps": 1.0, "num_frames": 12, "max_frames": None}
    assert Sampling.from_dict({"mode": "all", "max_frames": 5}) == Sampling(mode="all", max_frames=5)
    with pytest.raises(ConfigError, match="frames_per_second"):
        Sampling.from_dict({"frames_per_second": 2})


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "random"}, {"fps": 0}, {"fps": -1.0}, {"fps": float("nan")}, {"num_frames": 0},
     {"num_frames": 2.5}, {"max_frames": 0}, {"max_frames": True}],
)
def test_sampling_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Sampling(**kwargs)
