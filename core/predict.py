"""Prediction: a checkpoint and a video → top-k classes with probabilities and attention over time.

Everything needed comes from the checkpoint: the experiment config (backbone, weights, input size,
sampling, head), the class names and the sequence length T. The video is decoded and run through
the backbone live, as ABDN's ``predict.py`` did, then truncated or zero-padded to T.

Models of features that come with their data (the ``yt8m`` backbone, kind ``precomputed``) have no
network to run on video files: they classify the videos of YouTube-8M frame-level TFRecord files
(:meth:`Predictor.predict_records`), each built into a sequence exactly as training built it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.backbones import (
    Backbone,
    BackboneKind,
    build_backbone,
    extract_maps,
    get_backbone_spec,
    place_backbone,
)
from core.checkpoint import load_checkpoint, load_model_state
from core.config import ExperimentConfig
from core.data.tfrecord import TFRecordError
from core.data.youtube8m import NUM_CLASSES, Yt8mVideo, read_frame_level
from core.data.yt8m_proto import choose_parser
from core.devices import resolve_device
from core.errors import CheckpointError, ConfigError
from core.features import ExtractionSpec
from core.models import build_head
from core.sequences import FeatureNormalizer, SequenceSet, build_sequences
from core.video import Clip, sample_frames


@dataclass
class Prediction:
    """The answer for one video.

    ``top`` is [(class name, probability)] best first. ``attention`` holds one weight per sampled
    frame that the model saw (summing to 1), or None for heads without temporal attention;
    ``times`` are those frames' times in seconds. ``probabilities`` follow the order of ``classes``.
    """

    video: str
    top: list[tuple[str, float]]
    classes: list[str]
    probabilities: list[float]
    times: list[float]
    attention: list[float] | None
    frames_sampled: int
    frames_used: int
    sequence_length: int
    spatial_attention: list[list[float]] | None = None
    map_size: tuple[int, int] | None = None
    extras: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.top[0][0]

    def to_dict(self) -> dict:
        return {
            "video": self.video, "label": self.label,
            "top": [{"class": c, "probability": p} for c, p in self.top],
            "probabilities": dict(zip(self.classes, self.probabilities)),
            "times": self.times, "attention": self.attention,
            "frames_sampled": self.frames_sampled, "frames_used": self.frames_used,
            "sequence_length": self.sequence_length,
            "spatial_attention": self.spatial_attention,
            "map_size": list(self.map_size) if self.map_size else None,
        }


class Predictor:
    """A loaded model (backbone + head) that answers :meth:`predict` for any number of videos.

    A model of precomputed features (:attr:`precomputed`) has no backbone; it answers
    :meth:`predict_records` for YouTube-8M frame-level TFRecord files instead.
    """

    def __init__(self, checkpoint: str | Path, *, device: str = "auto") -> None:
        state = load_checkpoint(checkpoint)
        try:
            self.config = ExperimentConfig.from_json(state["config"])
            self.classes: list[str] = list(state["classes"])
            self.frames = int(state["frames"])
            self.feature_shape = tuple(state.get("feature_shape", ()))
            in_dim = int(state["in_dim"])
        except KeyError as exc:
            raise CheckpointError(f"{checkpoint} lacks {exc}; it is not a complete avc checkpoint"
                                  ) from exc
        self.device = resolve_device(device)
        self.multilabel = bool(state.get("multilabel", False))
        f = self.config.features
        # Features that come with the data (YouTube-8M) have no network to build.
        self.precomputed = get_backbone_spec(f.backbone).kind == BackboneKind.PRECOMPUTED
        self.backbone: Backbone | None = None
        # The precision the training features were extracted in (checkpoints from before it
        # was recorded: what the config's precision means on this device).
        self.precision = "fp32" if self.precomputed else state.get("feature_precision") or (
            ExtractionSpec.create(f.backbone, weights=f.weights, input_size=f.input_size,
                                  precision=f.precision, device=str(self.device)).precision)
        if not self.precomputed:
            self.backbone = place_backbone(build_backbone(
                f.backbone, weights=f.weights, input_size=f.input_size, init_seed=f.init_seed
            ), self.device)
        # The checkpoint holds every weight: no starting weights are read.
        self.head = build_head(self.config.head.name, in_dim=in_dim,
                               num_classes=len(self.classes), frames=self.frames,
                               options=self.config.head.options, multilabel=self.multilabel,
                               restoring=True)
        load_model_state(self.head, state["model"], checkpoint)
        self.head.to(self.device).eval()
        self.normalizer = FeatureNormalizer.from_state(state)

    @torch.inference_mode()
    def predict(self, video: str | Path, *, top_k: int = 5, keep_frames: bool = False
                ) -> Prediction:
        """Classify ``video``; raises ``VideoDecodeError`` when it cannot be decoded, and
        ``ConfigError`` for a model of precomputed features (see :meth:`predict_records`).

        ``keep_frames`` puts the frames the model saw (uint8, N × S × S × 3) in
        ``extras["frames"]``, for pictures of the attention.
        """
        clip, maps = self.encode(video)
        seq = build_sequences([maps], [0], frames=self.frames,
                              reduction=self.config.head.reduction)
        [prediction] = self._answer(seq, [str(video)], [clip.times], [len(clip.indices)],
                                    top_k=top_k)
        if keep_frames:
            prediction.extras["frames"] = clip.frames[:prediction.frames_used]
        return prediction

    def encode(self, video: str | Path) -> tuple[Clip, np.ndarray]:
        """Return the frames sampled from ``video`` and their conv maps (N, C, h, w) float16,
        computed exactly as the feature cache computes them (:func:`extract_maps`), so the head
        sees at prediction time the features it was trained on.

        Raises ``VideoDecodeError`` when ``video`` cannot be decoded, and ``ConfigError`` for a
        model of precomputed features.
        """
        f = self.config.features
        if self.backbone is None:
            raise ConfigError(
                f"this model classifies {f.backbone} features that come with their dataset, "
                f"not video files such as {video}",
                hint="give it YouTube-8M frame-level TFRecord files: "
                     "`avc predict MODEL FILE.tfrecord`")
        clip = sample_frames(video, f.sampling, size=self.backbone.input_size, resize=f.resize)
        maps = extract_maps(self.backbone, torch.from_numpy(clip.frames), self.device,
                            precision=self.precision)
        return clip, maps.numpy()

    @torch.inference_mode()
    def predict_records(self, path: str | Path, *, top_k: int = 5, batch_size: int = 256
                        ) -> tuple[list[Prediction], list[str]]:
        """Classify every video of the YouTube-8M frame-level TFRecord file ``path``.

        Only for models of precomputed features (:attr:`precomputed`). Each video's rgb and audio
        become its sequence exactly as training built it (float16, truncated or zero-padded to
        T, the same reduction and normaliser). Its :class:`Prediction` is named
        ``"<path>#<video id>"``, with one time per second (0, 1, 2, …).

        Returns ``(predictions, problems)``: damaged records are left out, each reported as one
        line in ``problems``.

        Raises:
            ConfigError: the model classifies video files.
            TFRecordError: ``path`` does not exist, or no video can be read from it (it is not a
                TFRecord file).
        """
        f = self.config.features
        if not self.precomputed:
            raise ConfigError(
                f"this model classifies video files through its {f.backbone} backbone, not "
                f"YouTube-8M records such as {path}",
                hint="`avc predict` takes TFRecord files only for models trained on "
                     "--layout youtube8m")
        path = Path(path)
        if path.is_dir():
            raise TFRecordError(f"{path} is a folder, not a YouTube-8M TFRecord file")
        # Labels play no part in a prediction: any label of YouTube-8M's vocabulary is fine.
        videos, problems = read_frame_level(path, num_classes=max(NUM_CLASSES, len(self.classes)),
                                            parse=choose_parser(),
                                            on_error="skip")
        if problems and not videos:
            raise TFRecordError(
                f"no video could be read from {path}; it is not a YouTube-8M frame-level "
                f"TFRecord file, or a damaged one ({problems[0]})",
                hint="`avc predict` on this model takes YouTube-8M frame-level .tfrecord files")
        predictions: list[Prediction] = []
        for start in range(0, len(videos), batch_size):
            batch = videos[start:start + batch_size]
            seq = build_sequences([_record_maps(video) for video in batch], [0] * len(batch),
                                  frames=self.frames, reduction=self.config.head.reduction)
            predictions += self._answer(
                seq, [f"{path}#{video.id}" for video in batch],
                [range(video.num_frames) for video in batch],
                [video.num_frames for video in batch], top_k=top_k)
        return predictions, problems

    def _answer(self, seq: SequenceSet, names: list[str], times: list, sampled: list[int], *,
                top_k: int) -> list[Prediction]:
        """Normalise ``seq`` as in training, run the head and build one Prediction per row."""
        seq = self.normalizer(seq)
        mask = seq.mask.to(self.device) if self.config.head.mask else None
        out = self.head(seq.features.to(self.device).float(), mask)
        logits = out.logits.float().cpu()
        # Multi-label models score each class on its own (sigmoid); the others share one softmax.
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)
        k = min(top_k, len(self.classes))
        values, indices = probs.topk(k, dim=1)
        predictions = []
        for row, name in enumerate(names):
            used = int(seq.lengths[row])
            attention = None
            if out.attention is not None:
                weights = out.attention[row, :used].float().cpu()
                # Padded steps get weight too when the head is unmasked (as in ABDN); report the
                # distribution over the real frames.
                attention = (weights / weights.sum().clamp(min=1e-12)).tolist()
            spatial = None
            if out.spatial_attention is not None:  # (h·w) weights per used frame, each sums to 1
                spatial = out.spatial_attention[row, :used].float().cpu().tolist()
            predictions.append(Prediction(
                video=name,
                top=[(self.classes[i], float(v))
                     for v, i in zip(values[row].tolist(), indices[row].tolist())],
                classes=list(self.classes),
                probabilities=probs[row].tolist(),
                times=[float(t) for t in list(times[row])[:used]],
                attention=attention,
                frames_sampled=sampled[row],
                frames_used=used,
                sequence_length=self.frames,
                spatial_attention=spatial,
                map_size=_map_size(self.feature_shape, spatial),
            ))
        return predictions


def _record_maps(video: Yt8mVideo) -> np.ndarray:
    """A record's per-second features as training sees them, each second a 1×1 map
    (n, 1152, 1, 1)."""
    features = video.features()
    return features.reshape(*features.shape, 1, 1)


def _map_size(feature_shape: tuple, spatial: list[list[float]] | None
              ) -> tuple[int, int] | None:
    """(h, w) of the attention maps: the cached conv maps', or, for a head that runs its own CNN
    on the frames (fine-tuned GLA), the square its h·w weights make."""
    if not spatial:
        return None
    h, w = feature_shape[1:]
    if h * w == len(spatial[0]):
        return (h, w)
    side = math.isqrt(len(spatial[0]))
    return (side, side) if side * side == len(spatial[0]) else (1, len(spatial[0]))


def predict(checkpoint: str | Path, video: str | Path, *, top_k: int = 5,
            device: str = "auto") -> Prediction:
    """Load ``checkpoint`` and classify one ``video``; see :class:`Predictor`."""
    return Predictor(checkpoint, device=device).predict(video, top_k=top_k)
