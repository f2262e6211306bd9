"""Sequences from cached conv maps: ABDN's T rule, padding, reductions, feature normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import ConfigError
from core.sequences import (
    FeatureNormalizer,
    build_sequences,
    center_videos,
    expected_frames,
    reduce_maps,
)


def _maps(frames: int, seed: int, offset: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(frames, 3, 2, 2)) + offset).astype(np.float16)


def test_expected_frames_is_the_integer_mean() -> None:
    assert expected_frames([9, 10, 12]) == 10
    assert expected_frames([1, 2]) == 1
    with pytest.raises(ConfigError):
        expected_frames([])


def test_flatten_is_channels_last_like_keras() -> None:
    maps = np.arange(2 * 3 * 2 * 2, dtype=np.float16).reshape(2, 3, 2, 2)
    flat = reduce_maps(maps, "flatten")
    assert flat.shape == (2, 12)
    # Keras flattens (h, w, C): the channels of one position come first.
    assert flat[0, :3].tolist() == [maps[0, 0, 0, 0], maps[0, 1, 0, 0], maps[0, 2, 0, 0]]
    assert reduce_maps(maps, "avg").shape == (2, 3)
    with pytest.raises(ConfigError, match="unknown feature reduction"):
        reduce_maps(maps, "max")


def test_sequences_truncate_and_zero_pad() -> None:
    seq = build_sequences([_maps(5, 0), _maps(2, 1)], [1, 0], frames=3, reduction="flatten")
    assert seq.features.shape == (2, 3, 12)
    assert seq.lengths.tolist() == [3, 2]
    assert seq.mask.tolist() == [[True, True, True], [True, True, False]]
    assert torch.all(seq.features[1, 2] == 0)
    assert seq.labels.tolist() == [1, 0]


def test_video_centering_removes_what_is_constant_over_time() -> None:
    still = np.repeat(_maps(1, 3, offset=5.0), 4, axis=0)
    seq = build_sequences([still, _maps(4, 4)], [0, 1], frames=6, reduction="avg")
    centered = center_videos(seq)
    assert torch.allclose(centered.features[0].float(), torch.zeros(6, 3), atol=1e-2)
    real = centered.features[1, :4].float()
    assert torch.allclose(real.mean(dim=0), torch.zeros(3), atol=1e-2)
    assert torch.all(centered.features[:, 4:] == 0)


@pytest.mark.parametrize("mode", ["dataset", "video"])
def test_normalizer_fits_on_training_data_and_round_trips(mode: str) -> None:
    train = build_sequences([_maps(4, i, offset=i) for i in range(6)], [0] * 6, frames=5,
                            reduction="avg")
    normalizer = FeatureNormalizer(mode).fit(train)
    out = normalizer(train)
    real = out.features[out.mask].float()
    assert torch.allclose(real.mean(dim=0), torch.zeros(3), atol=1e-2)
    assert torch.allclose(real.std(dim=0, unbiased=False), torch.ones(3), atol=1e-2)
    assert torch.all(out.features[~out.mask] == 0)
    again = FeatureNormalizer.from_state(normalizer.state())
    assert torch.equal(again(train).features, out.features)


def test_no_normalisation_is_the_identity_and_bad_modes_are_errors() -> None:
    seq = build_sequences([_maps(3, 0)], [0], frames=3, reduction="avg")
    assert FeatureNormalizer("none").fit(seq)(seq) is seq
    with pytest.raises(ConfigError, match="unknown feature normalisation"):
        FeatureNormalizer("l2")
    with pytest.raises(ConfigError, match="before it was fitted"):
        FeatureNormalizer("dataset")(seq)
