"""Prediction: a checkpoint and a video → top-k classes with probabilities and attention over time.

Everything needed comes from the checkpoint: the experiment config (backbone, weights, input size,
sampling, head), the class names and the sequence length T. The video is decoded and run through
the backbone live, as ABDN's ``predict.py`` did, then truncated or zero-padded to T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.backbones import Backbone, build_backbone, get_backbone_spec
from core.checkpoint import load_checkpoint
from core.config import ExperimentConfig
from core.errors import CheckpointError
from core.features import resolve_device
from core.models import build_head
from core.sequences import FeatureNormalizer, build_sequences
from core.video import sample_frames


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
    """A loaded model (backbone + head) that answers :meth:`predict` for any number of videos."""

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
        if get_backbone_spec(f.backbone).kind == "precomputed":
            raise CheckpointError(
                f"{checkpoint} classifies {f.backbone} features that come with their dataset, "
                "not video files",
                hint="its test metrics are in the run's result; `avc predict` takes video models")
        self.backbone: Backbone = build_backbone(
            f.backbone, weights=f.weights, input_size=f.input_size, init_seed=f.init_seed
        ).to(self.device)
        self.head = build_head(self.config.head.name, in_dim=in_dim,
                               num_classes=len(self.classes), frames=self.frames,
                               options=self.config.head.options, multilabel=self.multilabel)
        try:
            self.head.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"{checkpoint} does not match its own config: {exc}") from exc
        self.head.to(self.device).eval()
        self.normalizer = FeatureNormalizer.from_state(state)

    @torch.inference_mode()
    def predict(self, video: str | Path, *, top_k: int = 5, keep_frames: bool = False
                ) -> Prediction:
        """Classify ``video``; raises ``VideoDecodeError`` when it cannot be decoded.

        ``keep_frames`` puts the frames the model saw (uint8, N × S × S × 3) in
        ``extras["frames"]``, for pictures of the attention.
        """
        f = self.config.features
        clip = sample_frames(video, f.sampling, size=self.backbone.input_size)
        maps = torch.cat([
            self.backbone(self.backbone.preprocess(torch.from_numpy(chunk)))
            for chunk in _chunks(clip.frames, 64)
        ]).to(torch.float16).cpu().numpy()
        seq = build_sequences([maps], [0], frames=self.frames,
                              reduction=self.config.head.reduction)
        seq = self.normalizer(seq)
        mask = seq.mask.to(self.device) if self.config.head.mask else None
        out = self.head(seq.features.to(self.device).float(), mask)
        logits = out.logits.float()[0].cpu()
        # Multi-label models score each class on its own (sigmoid); the others share one softmax.
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=0)
        k = min(top_k, len(self.classes))
        values, indices = probs.topk(k)
        used = int(seq.lengths[0])
        attention = None
        if out.attention is not None:
            weights = out.attention[0, :used].float().cpu()
            # Padded steps get weight too when the head is unmasked (as in ABDN); report the
            # distribution over the real frames.
            attention = (weights / weights.sum().clamp(min=1e-12)).tolist()
        spatial = None
        if out.spatial_attention is not None:  # (h·w) weights per used frame, each summing to 1
            spatial = out.spatial_attention[0, :used].float().cpu().tolist()
        return Prediction(
            video=str(video),
            top=[(self.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())],
            classes=list(self.classes),
            probabilities=probs.tolist(),
            times=[float(t) for t in clip.times[:used]],
            attention=attention,
            frames_sampled=len(clip.indices),
            frames_used=used,
            sequence_length=self.frames,
            spatial_attention=spatial,
            map_size=tuple(self.feature_shape[1:]) if spatial is not None else None,
            extras={"frames": clip.frames[:used]} if keep_frames else {},
        )


def _chunks(array, size: int):
    for start in range(0, len(array), size):
        yield array[start:start + size]


def predict(checkpoint: str | Path, video: str | Path, *, top_k: int = 5,
            device: str = "auto") -> Prediction:
    """Load ``checkpoint`` and classify one ``video``; see :class:`Predictor`."""
    return Predictor(checkpoint, device=device).predict(video, top_k=top_k)
