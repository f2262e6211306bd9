"""The 3D CNN of Ji, Xu, Yang and Yu ("3D Convolutional Neural Networks for Human Action
Recognition", TPAMI 2013): ABDN's raw-pixel baseline.

Input: frames (B, T, C, H, W) from a pixel "backbone", C = 1 (grey) or 3 (RGB, turned into grey
with the BT.601 luma weights 0.299, 0.587, 0.114). The shapes below are at the paper's input,
T = 7 frames of 40×60 (H×W), with the default options (``sets`` 2, ``sets4`` 3, ``features`` 128):

- H1, hardwired (no parameters): 5 channels, 33 maps of 40×60 — grey (7), gradient x (7),
  gradient y (7) (central differences, one-sided at the border, as :func:`torch.gradient`),
  optical flow x (6) and y (6) between consecutive frames (Horn–Schunck, below);
- C2: a 3D convolution of 3 (time) × 7×7 (space) applied to each channel separately, ``sets``
  kernels per channel → 2 × (3·5 + 2·4) = 46 maps of 34×54; tanh;
- S3: 2×2 max pooling → 17×27;
- C4: a 3D convolution of 3 (time) × 6×7 (H×W) on each (channel, C2 set) separately, ``sets4``
  kernels each → 6 × (3·3 + 2·2) = 78 maps of 12×21; tanh;
- S5: adaptive max pooling to 4×7 (at 12×21 it is a 3×3 pooling), so C6 is always a 4×7
  convolution whatever the input size;
- C6: a 2D convolution of 4×7 over all 78 maps (time folded into channels) → ``features`` = 128
  maps of 1×1, a 128-d feature; tanh;
- dropout (``dropout``, 0 by default) and a fully connected layer to the classes.

The per-channel convolutions are grouped ``Conv3d``: one group per (hardwired channel, set). The
7-frame channels (grey, gradients) and the 6-frame flow channels go through separate convolutions
because their time lengths differ. They are evaluated group by group as 2D convolutions over
windows of time (the same numbers; PyTorch's grouped convolutions train very slowly on CPU).

At 7 frames, 40×60 and 3 classes the model has 285,357 trainable parameters (C2 1,480; C4 3,810;
C6 279,680; output 387) against the paper's ~295k. With ``hardwired=False`` the network sees only
the grey frames (one channel).

Differences from the paper:

- S3 and S5 are max pooling, not the paper's subsampling layers; the nonlinearity is the
  paper's tanh;
- no regularisation with auxiliary (high-level) features, and no ensemble of several 3D CNN
  models: one network;
- the flow is a few iterations (``flow_iterations``, 10 by default) of Horn–Schunck with smoothness
  weight ``flow_alpha`` (1.0 by default; with intensities in [0, 1] smaller values overshoot at
  corners) computed in torch, not the paper's optical flow; its border is replicate-padded;
- the input size is free (at least 24×32, H×W) thanks to the adaptive S5; C6's input width
  depends on the number of frames and is fixed at build time by ``frames``.

The frame ``mask`` is not used: the head always gets its ``frames`` frames, and padded frames
(zeros) go through the network like real ones (the flow into a padded frame is meaningless).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.models.registry import HeadOutput, TemporalHead, register_head

LUMA = (0.299, 0.587, 0.114)
# The smallest (H, W) for which C4's output still covers S5's 4×7 grid.
MIN_HEIGHT, MIN_WIDTH = 24, 32
S5_SIZE = (4, 7)


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) with C = 1 or 3 → (B, T, H, W) grey (BT.601 luma for RGB)."""
    if x.shape[2] == 1:
        return x[:, :, 0]
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
    return torch.einsum("btchw,c->bthw", x, weights)


def gradients(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial gradients (d/dx along W, d/dy along H) of (..., H, W) frames: central differences
    inside, one-sided differences at the border."""
    gy, gx = torch.gradient(frames, dim=(-2, -1))
    return gx, gy


def horn_schunck(first: torch.Tensor, second: torch.Tensor, *, iterations: int = 10,
                 alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Optical flow (u along W, v along H) from ``first`` to ``second`` (N, H, W) by Horn–Schunck.

    Brightness derivatives: Ix, Iy the mean of both frames' central-difference gradients, It the
    frame difference. Each iteration replaces (u, v) by their neighbourhood average (the classic
    1/6 edge, 1/12 corner weights, replicate border) minus the data term's correction
    I·(Ix ū + Iy v̄ + It) / (α² + Ix² + Iy²). Starts from zero flow.
    """
    gx1, gy1 = gradients(first)
    gx2, gy2 = gradients(second)
    ix, iy, it = (gx1 + gx2) / 2, (gy1 + gy2) / 2, second - first
    denominator = alpha ** 2 + ix ** 2 + iy ** 2
    kernel = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]],
                          dtype=first.dtype, device=first.device).view(1, 1, 3, 3)

    def average(field: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(field[:, None], (1, 1, 1, 1), mode="replicate"), kernel)[:, 0]

    u = torch.zeros_like(first)
    v = torch.zeros_like(first)
    for _ in range(iterations):
        u_bar, v_bar = average(u), average(v)
        step = (ix * u_bar + iy * v_bar + it) / denominator
        u, v = u_bar - ix * step, v_bar - iy * step
    return u, v


class Hardwired(nn.Module):
    """H1: grey frames → the 7-frame channels (B, 3, T, H, W) (grey, grad-x, grad-y) and the flow
    channels (B, 2, T−1, H, W) (flow-x, flow-y). No parameters."""

    def __init__(self, *, iterations: int = 10, alpha: float = 1.0) -> None:
        super().__init__()
        self.iterations, self.alpha = iterations, alpha

    def forward(self, grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, h, w = grey.shape
        gx, gy = gradients(grey)
        first = grey[:, :-1].reshape(b * (t - 1), h, w)
        second = grey[:, 1:].reshape(b * (t - 1), h, w)
        u, v = horn_schunck(first, second, iterations=self.iterations, alpha=self.alpha)
        frames = torch.stack([grey, gx, gy], dim=1)
        flow = torch.stack([u.view(b, t - 1, h, w), v.view(b, t - 1, h, w)], dim=1)
        return frames, flow

    def extra_repr(self) -> str:
        return f"iterations={self.iterations}, alpha={self.alpha}"


def grouped_conv3d(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a Conv3d with one input channel per group, computed group by group as
    dense 2D convolutions over windows of time (each window's frames become the input channels):
    the same result, and on CPU many times faster to train than PyTorch's grouped convolutions,
    whose weight gradient takes a slow path."""
    b, groups, _, h, w = x.shape
    span = conv.kernel_size[0]
    windows = x.unfold(2, span, 1)  # (B, G, T', H, W, span)
    steps = windows.shape[2]
    windows = windows.permute(1, 0, 2, 5, 3, 4).reshape(groups, b * steps, span, h, w)
    weight = conv.weight.reshape(groups, -1, span, *conv.kernel_size[1:])
    bias = conv.bias.reshape(groups, -1) if conv.bias is not None else [None] * groups
    out = torch.cat([F.conv2d(windows[g], weight[g], bias[g]) for g in range(groups)], 1)
    return out.view(b, steps, conv.out_channels, *out.shape[-2:]).transpose(1, 2)


class Stream(nn.Module):
    """C2 → tanh → S3 → C4 → tanh for one group of channels sharing a time length; each input
    channel has its own ``sets`` C2 kernels, each C2 map-stack its own ``sets4`` C4 kernels
    (grouped ``Conv3d`` layers, evaluated by :func:`grouped_conv3d`)."""

    def __init__(self, channels: int, *, sets: int, sets4: int) -> None:
        super().__init__()
        self.c2 = nn.Conv3d(channels, channels * sets, (3, 7, 7), groups=channels)
        self.c4 = nn.Conv3d(channels * sets, channels * sets * sets4, (3, 6, 7),
                            groups=channels * sets)

    def forward(self, x: torch.Tensor, record: dict[str, list[torch.Tensor]] | None = None
                ) -> torch.Tensor:
        c2 = torch.tanh(grouped_conv3d(self.c2, x))
        s3 = F.max_pool3d(c2, (1, 2, 2))
        c4 = torch.tanh(grouped_conv3d(self.c4, s3))
        if record is not None:
            for name, maps in (("c2", c2), ("s3", s3), ("c4", c4)):
                record[name].append(maps)
        return c4


def _fold_time(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, T, h, w) → (B, C·T, h, w): each (channel, time) map a channel."""
    b, c, t, h, w = maps.shape
    return maps.reshape(b, c * t, h, w)


class CNN3DHead(TemporalHead):
    """Ji et al.'s 3D CNN on (B, T, C, H, W) frames, C = 1 or 3; see the module docstring."""

    def __init__(self, in_dim: int, num_classes: int, frames: int, *, hardwired: bool = True,
                 sets: int = 2, sets4: int = 3, features: int = 128, dropout: float = 0.0,
                 flow_iterations: int = 10, flow_alpha: float = 1.0) -> None:
        super().__init__()
        if in_dim not in (1, 3):
            raise ValueError(f"the 3D CNN reads grey (1) or RGB (3) frames, not {in_dim} "
                             "channels")
        least = 6 if hardwired else 5
        if frames < least:
            raise ValueError(f"the 3D CNN needs at least {least} frames "
                             f"{'with' if hardwired else 'without'} the hardwired layer, "
                             f"got {frames}")
        for name, value in (("sets", sets), ("sets4", sets4), ("features", features)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if flow_iterations < 1 or flow_alpha <= 0:
            raise ValueError("flow_iterations must be at least 1 and flow_alpha positive, got "
                             f"{flow_iterations} and {flow_alpha}")
        self.in_dim, self.frames, self.hardwired = in_dim, frames, hardwired
        self.h1 = Hardwired(iterations=flow_iterations, alpha=flow_alpha) if hardwired else None
        self.frame_stream = Stream(3 if hardwired else 1, sets=sets, sets4=sets4)
        self.flow_stream = Stream(2, sets=sets, sets4=sets4) if hardwired else None
        # C2 and C4 each take 2 frames off the time axis: T → T − 4 (frames), T − 1 → T − 5 (flow).
        maps = (3 if hardwired else 1) * sets * sets4 * (frames - 4)
        if hardwired:
            maps += 2 * sets * sets4 * (frames - 5)
        self.c6 = nn.Conv2d(maps, features, S5_SIZE)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(features, num_classes)

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output on frames x, time folded into channels: ``h1`` (B, 33, H, W) at
        the paper's input, ``c2``, ``s3``, ``c4`` (B, maps, h, w), ``s5`` (B, maps, 4, 7),
        ``c6`` (B, features) and ``logits``."""
        record: dict[str, list[torch.Tensor]] = {"h1": [], "c2": [], "s3": [], "c4": []}
        logits, s5, c6 = self._run(x, record)
        out = {name: torch.cat([_fold_time(m) for m in maps], 1) for name, maps in record.items()}
        return out | {"s5": s5, "c6": c6, "logits": logits}

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 5:
            raise ValueError(f"the 3D CNN takes frames (B, T, C, H, W), got shape {tuple(x.shape)}")
        _, t, c, h, w = x.shape
        if c != self.in_dim:
            raise ValueError(f"the 3D CNN was built for {self.in_dim} channels, got {c}")
        if t != self.frames:
            raise ValueError(f"the 3D CNN was built for {self.frames} frames, got {t}")
        if h < MIN_HEIGHT or w < MIN_WIDTH:
            raise ValueError(f"frames of {h}×{w} (H×W) are too small for the 3D CNN: it needs "
                             f"at least {MIN_HEIGHT}×{MIN_WIDTH}")

    def _run(self, x: torch.Tensor, record: dict[str, list[torch.Tensor]] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._check(x)
        grey = to_grey(x)
        if self.h1 is not None:
            frames, flow = self.h1(grey)
            inputs = [(self.frame_stream, frames), (self.flow_stream, flow)]
        else:
            inputs = [(self.frame_stream, grey[:, None])]
        c4 = []
        for stream, maps in inputs:
            if record is not None:
                record["h1"].append(maps)
            c4.append(_fold_time(stream(maps, record)))
        s5 = F.adaptive_max_pool2d(torch.cat(c4, 1), S5_SIZE)
        c6 = torch.tanh(self.c6(s5)).flatten(1)
        return self.classifier(self.dropout(c6)), s5, c6

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        """Frames x (B, T, C, H, W) → logits (B, classes). ``mask`` (B, T) is accepted and
        ignored (padded frames are zeros and pass through like real ones)."""
        logits, _, _ = self._run(x)
        return HeadOutput(logits)


@register_head("3d-cnn", family="3D CNN (Ji et al. 2013)", reductions=("none",),
               description="3D CNN on raw frames with a hardwired grey/gradient/flow layer "
                           "(Ji et al. 2013)",
               probe=(1, 7), end_to_end=True, default_frames=7)
def build_cnn3d(*, in_dim: int, num_classes: int, frames: int, **options) -> CNN3DHead:
    return CNN3DHead(in_dim, num_classes, frames, **options)
