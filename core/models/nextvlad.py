"""NeXtVLAD (Lin et al., ECCV 2018 workshop), as linrongc's ``nextvlad.py`` implements it.

For frames x (B, M, N), expansion λ, groups G, clusters K:

1. ẋ = FC(N → λN) (with bias);
2. group attention α_g = sigmoid(FC(λN → G)), times the frame mask;
3. soft assignment: ẋ·W (λN → G·K, no bias) → BatchNorm → softmax over K per group → × α_g;
4. v_jk = Σ_{i,g} α_g α_gk (x̃^g_ij − c_kj) with x̃^g the G pieces of ẋ (λN/G each) and centres c;
5. L2 intra-normalisation over j for each cluster, flatten to K·λN/G, BatchNorm.

:class:`NeXtVLADModel` is the YouTube-8M model: a video NeXtVLAD (N 1024, λ 2, G 8, K 128), an
audio one with half the groups and clusters, concatenation → dropout 0.5 → FC(→ H, no bias) → BN →
SE context gating (r = 8) → a logistic classifier; 88,889,378 parameters for 3,862 classes.
The ``nextvlad`` head is the same after any backbone's (average-pooled) cached features, without
the audio branch unless ``audio_dim`` says how many of each frame's last values are audio (128 on
YouTube-8M's features, where ``-o audio_dim=128`` makes it exactly :class:`NeXtVLADModel`).
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.registry import HeadOutput, register_head


class NeXtVLAD(nn.Module):
    """The NeXtVLAD layer: (B, M, N) frames and a (B, M) mask → (B, K·λN/G)."""

    def __init__(self, dim: int, *, expansion: int = 2, groups: int = 8, clusters: int = 128
                 ) -> None:
        super().__init__()
        expanded = expansion * dim
        if expanded % groups:
            raise ValueError(f"λN = {expanded} is not divisible by {groups} groups")
        self.groups, self.clusters = groups, clusters
        self.group_dim = expanded // groups
        self.expand = nn.Linear(dim, expanded)
        self.group_attention = nn.Linear(expanded, groups)
        self.assignment = nn.Linear(expanded, groups * clusters, bias=False)
        self.assignment_bn = nn.BatchNorm1d(groups * clusters)
        self.centres = nn.Parameter(torch.randn(1, self.group_dim, clusters) * 0.01)
        self.output_bn = nn.BatchNorm1d(clusters * self.group_dim)

    @property
    def output_dim(self) -> int:
        return self.clusters * self.group_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, m, _ = x.shape
        expanded = self.expand(x)  # (B, M, λN)
        attention = torch.sigmoid(self.group_attention(expanded))  # (B, M, G)
        if mask is not None:
            attention = attention * mask[..., None].to(attention.dtype)
        logits = self.assignment(expanded).reshape(b * m, -1)
        logits = self.assignment_bn(logits).view(b, m * self.groups, self.clusters)
        assign = torch.softmax(logits, dim=-1) * attention.reshape(b, m * self.groups, 1)
        pieces = expanded.reshape(b, m * self.groups, self.group_dim)
        vlad = assign.transpose(1, 2) @ pieces  # (B, K, λN/G)
        vlad = vlad.transpose(1, 2) - assign.sum(1, keepdim=True) * self.centres
        vlad = nn.functional.normalize(vlad, p=2, dim=1)  # intra-normalisation per cluster
        return self.output_bn(vlad.reshape(b, -1))


class ContextGating(nn.Module):
    """SE context gating: x · sigmoid(FC(BN+ReLU(FC(x)))) with reduction r."""

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        self.squeeze = nn.Linear(dim, dim // reduction, bias=False)
        self.bn = nn.BatchNorm1d(dim // reduction)
        self.excite = nn.Linear(dim // reduction, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.excite(torch.relu(self.bn(self.squeeze(x)))))


class NeXtVLADHead(nn.Module):
    """NeXtVLAD over per-frame features → hidden FC + BN → context gating → class logits."""

    def __init__(self, in_dim: int, num_classes: int, frames: int = 0, *, expansion: int = 2,
                 groups: int = 8, clusters: int = 128, hidden: int = 2048, dropout: float = 0.5,
                 gating_reduction: int = 8, audio_dim: int = 0) -> None:
        super().__init__()
        if not 0 <= audio_dim < in_dim:
            raise ValueError(f"audio_dim {audio_dim} must be between 0 and the frame size {in_dim}")
        in_dim -= audio_dim  # the last audio_dim values of each frame are its audio
        self.video = NeXtVLAD(in_dim, expansion=expansion, groups=groups, clusters=clusters)
        self.audio = (NeXtVLAD(audio_dim, expansion=expansion, groups=groups // 2,
                               clusters=clusters // 2) if audio_dim else None)
        self.in_dim, self.audio_dim = in_dim, audio_dim
        total = self.video.output_dim + (self.audio.output_dim if self.audio else 0)
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(total, hidden, bias=False)
        self.hidden_bn = nn.BatchNorm1d(hidden)
        self.gating = ContextGating(hidden, gating_reduction)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        parts = [self.video(x[..., :self.in_dim], mask)]
        if self.audio is not None:
            parts.append(self.audio(x[..., self.in_dim:], mask))
        hidden = self.hidden_bn(self.hidden(self.dropout(torch.cat(parts, -1))))
        return HeadOutput(self.classifier(self.gating(hidden)))


class NeXtVLADModel(NeXtVLADHead):
    """The YouTube-8M model: rgb 1024 + audio 128 per second, 3,862 classes (sigmoid each)."""

    def __init__(self, num_classes: int = 3862, **options) -> None:
        super().__init__(1024 + 128, num_classes, audio_dim=128, **options)


@register_head("nextvlad", family="NeXtVLAD (Lin et al. 2018)", reductions=("avg", "flatten"),
               probe=(1024 + 128, 2),
               description="NeXtVLAD aggregation of frame features, SE context gating")
def build_nextvlad(*, in_dim: int, num_classes: int, frames: int, **options) -> nn.Module:
    return NeXtVLADHead(in_dim, num_classes, frames, **options)
