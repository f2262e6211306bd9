"""Turning cached per-frame conv maps into fixed-length training sequences.

ABDN's rule: T = int(mean frame count over all videos of the dataset, train and test together);
each video is truncated to its first T frames or zero-padded at the end. The mask marks real frames;
whether a head uses it is the experiment's choice (ABDN did not mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import ConfigError


@dataclass
class SequenceSet:
    """N padded sequences: features (N, T, …) float16, mask (N, T) bool, labels (N,) int64."""

    features: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor | Sequence[int]) -> SequenceSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return SequenceSet(self.features[index], self.mask[index], self.labels[index],
                           self.lengths[index])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one frame's features: (D,) after a reduction, (C, h, w) without."""
        return tuple(self.features.shape[2:])


def expected_frames(counts: Sequence[int]) -> int:
    """ABDN's T: the integer part of the mean frame count (at least 1)."""
    if not counts:
        raise ConfigError("cannot compute the mean frame count of an empty dataset")
    return max(1, int(np.mean(counts)))


def reduce_maps(maps: np.ndarray, reduction: str) -> np.ndarray:
    """(N, C, h, w) conv maps → ``flatten`` (N, h·w·C) in Keras' channels-last order, ``avg``
    (N, C) spatial means, or ``none`` (unchanged)."""
    if reduction == "flatten":
        return np.ascontiguousarray(maps.transpose(0, 2, 3, 1)).reshape(maps.shape[0], -1)
    if reduction == "avg":
        return maps.astype(np.float32).mean(axis=(2, 3)).astype(maps.dtype)
    if reduction == "none":
        return maps
    raise ConfigError(f"unknown feature reduction {reduction!r}")


def build_sequences(videos: Sequence[np.ndarray], labels: Sequence[int], *, frames: int,
                    reduction: str) -> SequenceSet:
    """Stack per-video conv maps (N_i, C, h, w) into a padded :class:`SequenceSet` of length
    ``frames``, keeping each video's first ``frames`` frames."""
    if not videos:
        raise ConfigError("no videos to build sequences from")
    reduced = [reduce_maps(v[:frames], reduction) for v in videos]
    item_shape = reduced[0].shape[1:]
    features = torch.zeros((len(reduced), frames, *item_shape), dtype=torch.float16)
    mask = torch.zeros((len(reduced), frames), dtype=torch.bool)
    lengths = torch.zeros(len(reduced), dtype=torch.long)
    for i, video in enumerate(reduced):
        n = video.shape[0]
        features[i, :n] = torch.from_numpy(np.asarray(video, dtype=np.float16))
        mask[i, :n] = True
        lengths[i] = n
    return SequenceSet(features, mask, torch.as_tensor(list(labels), dtype=torch.long), lengths)
