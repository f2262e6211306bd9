"""GLA: global and local knowledge-aware attention (Zheng et al., TNNLS 2021).

Input: per-frame conv maps (B, T, C, h, w) (the paper: ResNet-34, 512×7×7, 12 TSN segments).
Three streams per frame:

- GP (global pooling): the spatial mean, C;
- SA (statistic-based attention): s = mean over channels of x² (h×w) → a 1×1 conv (one weight and
  a bias) → softmax over the positions → weighted sum, C; fused with GP → 2C;
- LA (learning-based attention): per position C → Linear(128) → tanh → Linear(1) → tanh → softmax
  over the positions → weighted sum, C; fused with GP → 2C.

Each stream has its own recurrent model (``rnn`` = ``lstm``, ``gru``, or the original's ``sru``
from the optional sru package, see ``core/models/sru.py``; ``layers``, ``hidden``, dropout 0.5)
and a per-step classifier whose logits are averaged over the real steps. The output is the plain
mean of the three streams' logits. The loss adds the global-attention regularisation to the
cross-entropy of the fused logits: for each attention stream, mean_batch max(0, p_GP[y] −
p_att[y] + ``margin``) with p the stream's softmax.

TSN sampling (``segments``, the paper: 12; off by default, when every given frame is used): the
head samples the frames itself. The real frames (per the mask, else all T) are cut into
``segments`` chunks of n_real // segments frames (a remainder at the end is never drawn, as in the
original) and one frame per chunk is taken, in time order:

- training: a random frame per chunk, from torch's global RNG (so the training loop's seed makes it
  reproducible);
- eval: ``test_samples`` (the paper: 10) such random samples, the fused logits (and each stream's)
  averaged over them. The within-chunk offsets come from a generator seeded 0 on every call and are
  shared by all videos, so a video's test logits do not depend on its batch.

A video with fewer real frames than ``segments`` (the original needs at least that many) uses
``segments`` evenly spread frames with repetition (rounded linspace over its real frames), the same
in training and eval. The spatial attention is a per-frame function, so in eval it is returned for
every frame position (B, T, h·w) as without sampling; in training it covers only the sampled frames
(B, segments, h·w), whose positions are in ``extras["frame_index"]``.

Multi-label data (labels a float multi-hot (B, K)): the loss is the binary cross-entropy with
logits of the fused logits, summed over classes and averaged over videos. The GA hinge is defined
on the true class's softmax probability and has no multi-label counterpart, so it is left out.
``multilabel`` is accepted for symmetry with the other heads (the engine sets it for multi-label
data); the forward pass is the same in both modes and the loss follows the labels' shape.
"""

from __future__ import annotations

import torch
from torch import nn

from core.backbones import BackboneKind, build_backbone, get_backbone_spec
from core.errors import ConfigError, WeightsUnavailable
from core.models.registry import HeadOutput, TemporalHead, register_head
from core.models.soft_attention import real_frame_order
from core.tasks import MultiLabel, Task


class StatisticAttention(nn.Module):
    """SA: softmax over positions of a 1×1 conv of the channel mean of squared activations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = maps.shape
        energy = self.conv(maps.pow(2).mean(dim=1, keepdim=True)).view(n, h * w)
        alpha = torch.softmax(energy, dim=-1)
        return (maps.view(n, c, h * w) * alpha[:, None]).sum(-1), alpha


class LearnedAttention(nn.Module):
    """LA: a small tanh MLP scores each position; softmax over positions."""

    def __init__(self, channels: int, width: int = 128) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(channels, width), nn.Tanh(), nn.Linear(width, 1),
                                   nn.Tanh())

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = maps.shape
        positions = maps.view(n, c, h * w).transpose(1, 2)  # (N, L, C)
        alpha = torch.softmax(self.score(positions).squeeze(-1), dim=-1)
        return (positions * alpha[..., None]).sum(1), alpha


class Stream(nn.Module):
    """A recurrent model over one stream's per-frame features, logits averaged over time."""

    def __init__(self, in_dim: int, num_classes: int, *, rnn: str, hidden: int, layers: int,
                 dropout: float) -> None:
        super().__init__()
        if rnn == "sru":
            from core.models.sru import SRUSteps

            self.rnn: nn.Module = SRUSteps(in_dim, hidden, layers=layers, dropout=dropout)
        else:
            kind = {"lstm": nn.LSTM, "gru": nn.GRU}[rnn]
            self.rnn = kind(in_dim, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        steps, _ = self.rnn(x)
        logits = self.classifier(self.dropout(steps))
        weights = real.float()[..., None]
        return (logits * weights).sum(1) / weights.sum(1).clamp(min=1)


def segment_ranks(n_real: torch.Tensor, segments: int, draws: torch.Tensor) -> torch.Tensor:
    """TSN sampling: which real frames (as ranks 0 … n_real − 1 among a video's real frames) to use.

    ``n_real`` (B,) counts each video's real frames; ``draws`` (…, B, segments) are uniform in
    [0, 1). With chunk = n_real // segments, segment j takes rank j·chunk + ⌊draw·chunk⌋, one frame
    per chunk, in time order. Videos with fewer real frames than ``segments`` take the rounded
    linspace over their real frames instead (frames repeat; the draws are not used).
    """
    n = n_real.clamp(min=1).to(draws.device)
    chunk = n // segments
    last = (chunk - 1).clamp(min=0)[:, None]  # guards a draw that rounds up to the chunk's end
    offsets = torch.minimum((draws * chunk[:, None]).floor().long(), last)
    tsn = torch.arange(segments, device=draws.device) * chunk[:, None] + offsets
    spread = (torch.linspace(0, 1, segments, device=draws.device) * (n - 1)[:, None]).round().long()
    return torch.where((n < segments)[:, None], spread, tsn)


class FineTunedCNN(nn.Module):
    """A registered backbone's conv trunk, trainable, for end-to-end GLA: RGB frames in [0, 1]
    (N, 3, S, S) → conv maps (N, C, h, w). With pretrained weights the batch-norm statistics stay
    frozen (the affine parameters train), as TSN does with small batches; a randomly initialised
    CNN has no statistics worth keeping, and learns them."""

    def __init__(self, name: str, weights: str = "imagenet", *, restoring: bool = False) -> None:
        super().__init__()
        spec = get_backbone_spec(name)
        if spec.kind != BackboneKind.CNN:
            raise ValueError(f"cnn must be a CNN backbone, not {name!r}")
        self.name = spec.name
        if torch.empty(0).device.type == "meta" or restoring:
            # Options being checked, or a checkpoint about to fill every weight (and the scale):
            # the structure will do, and the starting weights need not be where they were.
            self.trunk, scale = spec.trunk(spec.build()), 1.0
        else:
            try:
                backbone = build_backbone(name, weights=weights, input_size=spec.min_input_size)
            except WeightsUnavailable as error:
                raise WeightsUnavailable(
                    f"GLA's CNN: {error.message}",
                    hint="pass -o cnn_weights=none (random) or -o cnn_weights=FILE") from error
            self.trunk, scale = backbone.trunk, backbone.output_scale
        self.trunk.requires_grad_(True)
        self.freeze_statistics = weights != "none"
        self.channels = spec.out_channels
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        # Saved with the model: a random CNN's output scale is measured when it is made.
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.trunk((frames - self.mean) / self.std) * self.scale

    def train(self, mode: bool = True) -> FineTunedCNN:
        super().train(mode)
        for module in self.trunk.modules() if self.freeze_statistics else ():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


class GLAHead(TemporalHead):
    def __init__(self, in_dim: int, num_classes: int, frames: int, *, rnn: str = "lstm",
                 hidden: int = 1024, layers: int = 3, dropout: float = 0.5,
                 margin: float = 0.1, segments: int | None = None, test_samples: int = 10,
                 multilabel: bool = False, cnn: str | None = None,
                 cnn_weights: str = "imagenet", restoring: bool = False) -> None:
        super().__init__()
        self.cnn = None
        if cnn is not None:
            if in_dim != 3:
                raise ValueError("end-to-end GLA (cnn=...) reads RGB frames: use --backbone rgb")
            self.cnn = FineTunedCNN(cnn, cnn_weights, restoring=restoring)
            in_dim = self.cnn.channels
        if rnn not in ("lstm", "gru", "sru"):
            raise ConfigError(f"GLA's rnn must be lstm, gru or sru, not {rnn!r}",
                              hint="for example -o rnn=gru")
        if segments is not None and int(segments) < 1:
            raise ValueError(f"segments must be a positive number of frames, not {segments!r}")
        if int(test_samples) < 1:
            raise ValueError(f"test_samples must be at least 1, not {test_samples!r}")
        channels = in_dim
        self.margin = margin
        self.segments = None if segments is None else int(segments)
        self.test_samples = int(test_samples)
        self.multilabel = bool(multilabel)
        self.statistic = StatisticAttention()
        self.learned = LearnedAttention(channels)
        options = dict(rnn=rnn, hidden=hidden, layers=layers, dropout=dropout)
        self.gp = Stream(channels, num_classes, **options)
        self.sa = Stream(2 * channels, num_classes, **options)
        self.la = Stream(2 * channels, num_classes, **options)

    def frame_features(self, x: torch.Tensor
                       ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-frame stream inputs {gp: (B, T, C), sa/la: (B, T, 2C)} and the spatial attention
        (B, T, h·w), the mean of the SA and LA weights."""
        b, t = x.shape[:2]
        maps = x.reshape(b * t, *x.shape[2:])
        if self.cnn is not None:  # end to end: the frames go through the trainable CNN here
            maps = self.cnn(maps)
        c, h, w = maps.shape[1:]
        gp = maps.mean(dim=(2, 3)).view(b, t, c)
        statistic, alpha_sa = self.statistic(maps)
        learned, alpha_la = self.learned(maps)
        inputs = {"gp": gp, "sa": torch.cat([gp, statistic.view(b, t, c)], -1),
                  "la": torch.cat([gp, learned.view(b, t, c)], -1)}
        return inputs, ((alpha_sa + alpha_la) / 2).view(b, t, h * w)

    def classify(self, inputs: dict[str, torch.Tensor], real: torch.Tensor
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The fused logits and each stream's logits."""
        streams = {name: getattr(self, name)(inputs[name], real) for name in ("gp", "sa", "la")}
        return (streams["gp"] + streams["sa"] + streams["la"]) / 3, streams

    def sample_positions(self, real: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """Frame positions of TSN samples: (B, segments) drawn from the global RNG when
        ``samples`` is None, else (samples, B, segments) from a generator seeded 0."""
        b = real.shape[0]
        if samples is None:
            draws = torch.rand(b, self.segments)  # the CPU global RNG, which the loop seeds
        else:
            generator = torch.Generator().manual_seed(0)
            draws = torch.rand(samples, 1, self.segments, generator=generator).expand(
                samples, b, self.segments)
        ranks = segment_ranks(real.sum(1), self.segments, draws.to(real.device))
        order = real_frame_order(real)
        if samples is None:
            return order.gather(1, ranks)
        return order.expand(samples, *order.shape).gather(2, ranks)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        b, t = x.shape[:2]
        real = mask if mask is not None else torch.ones(b, t, dtype=torch.bool,
                                                        device=x.device)
        if self.segments is None:
            inputs, spatial = self.frame_features(x)
            fused, streams = self.classify(inputs, real)
            return HeadOutput(fused, spatial_attention=spatial, extras=streams)
        every = torch.ones(b, self.segments, dtype=torch.bool, device=x.device)
        if self.training:
            positions = self.sample_positions(real)
            picked = x[torch.arange(b, device=x.device)[:, None], positions]
            inputs, spatial = self.frame_features(picked)
            fused, streams = self.classify(inputs, every)
            return HeadOutput(fused, spatial_attention=spatial,
                              extras={**streams, "frame_index": positions})
        # Eval: the per-frame features once for every frame, then the samples gathered from them.
        k = self.test_samples
        positions = self.sample_positions(real, k)  # (K, B, S)
        inputs, spatial = self.frame_features(x)
        rows = torch.arange(b, device=x.device)[None, :, None]
        sampled = {name: feats[rows, positions].flatten(0, 1) for name, feats in inputs.items()}
        fused, streams = self.classify(sampled, every.repeat(k, 1))
        return HeadOutput(fused.view(k, b, -1).mean(0), spatial_attention=spatial,
                          extras={name: v.view(k, b, -1).mean(0) for name, v in streams.items()})

    def loss(self, output: HeadOutput, labels: torch.Tensor, task: Task | None = None
             ) -> torch.Tensor:
        """Cross-entropy of the fused logits plus the two global-attention hinges; for multi-hot
        labels (B, K) the binary cross-entropy with logits summed over classes, averaged over
        videos, without hinges."""
        if labels.dim() == 2:
            return MultiLabel.loss(output.logits, labels)
        loss = nn.functional.cross_entropy(output.logits, labels)
        p_gp = torch.softmax(output.extras["gp"], -1).gather(1, labels[:, None])
        for stream in ("sa", "la"):
            p_att = torch.softmax(output.extras[stream], -1).gather(1, labels[:, None])
            loss = loss + torch.clamp(p_gp - p_att + self.margin, min=0).mean()
        return loss


@register_head("gla", family="GLA (Zheng et al. 2021)", reductions=("none",), task_aware=True,
               frames_option="cnn", restorable=True,
               description="global pooling + statistic and learned spatial attention streams")
def build_gla(*, in_dim: int, num_classes: int, frames: int, **options) -> GLAHead:
    return GLAHead(in_dim, num_classes, frames, **options)
