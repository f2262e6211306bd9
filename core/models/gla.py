"""GLA: global and local knowledge-aware attention (Zheng et al., TNNLS 2021).

Input: per-frame conv maps (B, T, C, h, w) (the paper: ResNet-34, 512×7×7, 12 TSN segments).
Three streams per frame:

- GP (global pooling): the spatial mean, C;
- SA (statistic-based attention): s = mean over channels of x² (h×w) → a 1×1 conv (one weight and
  a bias) → softmax over the positions → weighted sum, C; fused with GP → 2C;
- LA (learning-based attention): per position C → Linear(128) → tanh → Linear(1) → tanh → softmax
  over the positions → weighted sum, C; fused with GP → 2C.

Each stream has its own recurrent model (``rnn`` = ``lstm`` or ``gru`` in place of the original's
SRU; ``layers``, ``hidden``, dropout 0.5) and a per-step classifier whose logits are averaged over
the real steps. The output is the plain mean of the three streams' logits. The loss adds the
global-attention regularisation to the cross-entropy of the fused logits: for each attention
stream, mean_batch max(0, p_GP[y] − p_att[y] + ``margin``) with p the stream's softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.registry import HeadOutput, register_head


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


class GLAHead(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, frames: int, *, rnn: str = "lstm",
                 hidden: int = 1024, layers: int = 3, dropout: float = 0.5,
                 margin: float = 0.1) -> None:
        super().__init__()
        if rnn not in ("lstm", "gru"):
            from core.errors import ConfigError

            raise ConfigError(f"GLA's rnn must be lstm or gru, not {rnn!r}")
        channels = in_dim
        self.margin = margin
        self.statistic = StatisticAttention()
        self.learned = LearnedAttention(channels)
        options = dict(rnn=rnn, hidden=hidden, layers=layers, dropout=dropout)
        self.gp = Stream(channels, num_classes, **options)
        self.sa = Stream(2 * channels, num_classes, **options)
        self.la = Stream(2 * channels, num_classes, **options)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        b, t, c, h, w = x.shape
        real = mask if mask is not None else torch.ones(b, t, dtype=torch.bool,
                                                        device=x.device)
        maps = x.reshape(b * t, c, h, w)
        pooled = maps.mean(dim=(2, 3))
        statistic, alpha_sa = self.statistic(maps)
        learned, alpha_la = self.learned(maps)
        gp = pooled.view(b, t, c)
        streams = {
            "gp": self.gp(gp, real),
            "sa": self.sa(torch.cat([gp, statistic.view(b, t, c)], -1), real),
            "la": self.la(torch.cat([gp, learned.view(b, t, c)], -1), real),
        }
        fused = (streams["gp"] + streams["sa"] + streams["la"]) / 3
        spatial = ((alpha_sa + alpha_la) / 2).view(b, t, h * w)
        return HeadOutput(fused, spatial_attention=spatial, extras=streams)

    def loss(self, output: HeadOutput, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the fused logits plus the two global-attention hinges."""
        loss = nn.functional.cross_entropy(output.logits, labels)
        p_gp = torch.softmax(output.extras["gp"], -1).gather(1, labels[:, None])
        for stream in ("sa", "la"):
            p_att = torch.softmax(output.extras[stream], -1).gather(1, labels[:, None])
            loss = loss + torch.clamp(p_gp - p_att + self.margin, min=0).mean()
        return loss


@register_head("gla", family="GLA (Zheng et al. 2021)", reductions=("none",),
               description="global pooling + statistic and learned spatial attention streams")
def build_gla(*, in_dim: int, num_classes: int, frames: int, **options) -> nn.Module:
    return GLAHead(in_dim, num_classes, frames, **options)
