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

from core.choices import NORMALIZATIONS
from core.errors import ConfigError


@dataclass
class SequenceSet:
    """N padded sequences: features (N, T, …) float16, mask (N, T) bool, labels (N,) int64 class
    indices, or (N, C) float32 multi-hot for multi-label data."""

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

    def to(self, device: torch.device) -> SequenceSet:
        """The same sequences on ``device``."""
        return SequenceSet(self.features.to(device), self.mask.to(device),
                           self.labels.to(device), self.lengths.to(device))

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


def build_sequences(videos: Sequence[np.ndarray], labels: Sequence[int] | torch.Tensor, *,
                    frames: int, reduction: str) -> SequenceSet:
    """Stack per-video conv maps (N_i, C, h, w) into a padded :class:`SequenceSet` of length
    ``frames``, keeping each video's first ``frames`` frames. ``labels`` are class indices, or a
    (N, C) multi-hot tensor for multi-label data."""
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
    return SequenceSet(features, mask, label_tensor(labels), lengths)


def label_tensor(labels: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Class indices as int64 (N,); a 2-D multi-hot matrix as float32 (N, C)."""
    if isinstance(labels, torch.Tensor) and labels.dim() == 2:
        return labels.float()
    return torch.as_tensor(list(labels), dtype=torch.long)


def _per_frame(mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """``mask`` (N, T) broadcastable against ``features`` (N, T, …)."""
    return mask.reshape(*mask.shape, *([1] * (features.dim() - 2)))


def center_videos(data: SequenceSet) -> SequenceSet:
    """A copy of ``data`` with each video's mean over its real frames subtracted: what stays the
    same through a video (the scene, the background) is removed, what changes is kept."""
    mask = _per_frame(data.mask, data.features)
    features = data.features.float() * mask
    lengths = data.lengths.clamp(min=1).reshape(-1, *([1] * (data.features.dim() - 1)))
    centered = (features - features.sum(dim=1, keepdim=True) / lengths) * mask
    return SequenceSet(centered.to(torch.float16), data.mask, data.labels, data.lengths)


def feature_statistics(data: SequenceSet) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation over the real (unpadded) frames of ``data``."""
    frames = data.features[data.mask].float()
    mean = frames.mean(dim=0)
    std = frames.std(dim=0, unbiased=False).clamp(min=1e-3)
    return mean, std


def standardize(data: SequenceSet, mean: torch.Tensor, std: torch.Tensor) -> SequenceSet:
    """A copy of ``data`` with real frames z-scored by ``mean``/``std``; padding stays zero."""
    mask = _per_frame(data.mask, data.features)
    features = ((data.features.float() - mean) / std) * mask
    return SequenceSet(features.to(torch.float16), data.mask, data.labels, data.lengths)


@dataclass
class FeatureNormalizer:
    """How features are normalised before the head sees them, fitted on the training set.

    ``none`` feeds raw features (ABDN). ``dataset`` z-scores every dimension with the training
    set's statistics. ``video`` first subtracts each video's own mean over time, then z-scores:
    with random-weight backbones the static scene dominates the features and the heads overfit
    it; centring leaves the motion, which is what tells the synthetic classes apart.
    """

    mode: str = "none"
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.mode not in NORMALIZATIONS:
            raise ConfigError(f"unknown feature normalisation {self.mode!r}; "
                              f"choose one of: {', '.join(NORMALIZATIONS)}")

    def _centre(self, data: SequenceSet) -> SequenceSet:
        return center_videos(data) if self.mode == "video" else data

    def fit(self, data: SequenceSet) -> FeatureNormalizer:
        if self.mode != "none":
            self.mean, self.std = feature_statistics(self._centre(data))
        return self

    def __call__(self, data: SequenceSet) -> SequenceSet:
        if self.mode == "none":
            return data
        if self.mean is None or self.std is None:
            raise ConfigError("the feature normaliser was used before it was fitted")
        return standardize(self._centre(data), self.mean, self.std)

    def state(self) -> dict[str, object]:
        """What a checkpoint stores to apply the same normalisation at prediction time."""
        return {"normalize": self.mode, "feature_mean": self.mean, "feature_std": self.std}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> FeatureNormalizer:
        return cls(str(state.get("normalize", "none")), state.get("feature_mean"),
                   state.get("feature_std"))
