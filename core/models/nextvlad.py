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

Batch norm and initialisation are the reference's, TensorFlow's slim defaults: every batch norm has
epsilon 1e-3 and decay 0.999 (PyTorch momentum 0.001), γ 1 and β 0, and the three the reference
builds with ``fused=False`` (assignment, descriptor, hidden) move their running variance by the
batch's biased variance, as ``tf.nn.moments`` gives it (the gating's, fused, by the unbiased one, as
PyTorch does). Every weight matrix, the cluster centres and the classifier are drawn by
``slim.variance_scaling_initializer()``: a normal of standard deviation √(1.3·2/fan_in) truncated at
two standard deviations (fan_in: the input size; the centres' λN/G); biases start at 0. The
intra-normalisation is ``tf.nn.l2_normalize``'s, x / √max(Σx², 1e-12).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.models.registry import HeadOutput, TemporalHead, register_head


class ReferenceBatchNorm(nn.BatchNorm1d):
    """``slim.batch_norm`` as the reference calls it: epsilon 1e-3, momentum 0.001 (decay 0.999);
    unless ``fused``, training moves the running variance by the batch's biased variance."""

    def __init__(self, features: int, *, fused: bool = False) -> None:
        super().__init__(features, eps=1e-3, momentum=1e-3)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused or not self.training:
            return super().forward(x)
        with torch.no_grad():
            stats = x.detach().float()
            self.running_mean.lerp_(stats.mean(0), self.momentum)
            self.running_var.lerp_(stats.var(0, unbiased=False), self.momentum)
            self.num_batches_tracked.add_(1)
        return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def variance_scaling_(tensor: torch.Tensor, fan_in: int) -> torch.Tensor:
    """``slim.variance_scaling_initializer()`` (factor 2, FAN_IN, truncated normal), in place."""
    std = math.sqrt(1.3 * 2.0 / fan_in)
    with torch.no_grad():
        return nn.init.trunc_normal_(tensor, 0.0, std, -2 * std, 2 * std)


def _reference_linear(layer: nn.Linear) -> None:
    """A slim fully connected layer with the variance-scaling weights and zero biases."""
    variance_scaling_(layer.weight, layer.in_features)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


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
        self.assignment_bn = ReferenceBatchNorm(groups * clusters)
        self.centres = nn.Parameter(torch.empty(1, self.group_dim, clusters))
        self.output_bn = ReferenceBatchNorm(clusters * self.group_dim)
        for layer in (self.expand, self.group_attention, self.assignment):
            _reference_linear(layer)
        variance_scaling_(self.centres, self.group_dim)  # shape (1, λN/G, K): fan_in λN/G

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
        # intra-normalisation per cluster, as tf.nn.l2_normalize
        vlad = vlad * torch.rsqrt(vlad.pow(2).sum(1, keepdim=True).clamp_min(1e-12))
        return self.output_bn(vlad.reshape(b, -1))


class ContextGating(nn.Module):
    """SE context gating: x · sigmoid(FC(BN+ReLU(FC(x)))) with reduction r."""

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        self.squeeze = nn.Linear(dim, dim // reduction, bias=False)
        self.bn = ReferenceBatchNorm(dim // reduction, fused=True)
        self.excite = nn.Linear(dim // reduction, dim, bias=False)
        _reference_linear(self.squeeze)
        _reference_linear(self.excite)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.excite(torch.relu(self.bn(self.squeeze(x)))))


class NeXtVLADHead(TemporalHead):
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
        self.hidden_bn = ReferenceBatchNorm(hidden)
        self.gating = ContextGating(hidden, gating_reduction)
        self.classifier = nn.Linear(hidden, num_classes)
        _reference_linear(self.hidden)
        _reference_linear(self.classifier)  # the reference's LogisticModel

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
def build_nextvlad(*, in_dim: int, num_classes: int, frames: int, **options) -> NeXtVLADHead:
    return NeXtVLADHead(in_dim, num_classes, frames, **options)
