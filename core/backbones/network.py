"""The frozen backbone module and the one forward pass that extraction and prediction share.

:class:`Backbone` is a CNN trunk plus its preprocessing. :func:`extract_maps` turns uint8 frames into
conv maps the same way wherever it is called: the feature cache (:mod:`core.features`) and live
prediction (:mod:`core.predict`) both go through it, so a model never sees features at prediction
time that were computed with another precision or memory format than the ones it was trained on.
"""

from __future__ import annotations

import os
import shutil

import torch
from torch import nn

from core.backbones.registry import (
    BackboneKind,
    BackboneSpec,
    get_backbone_spec,
    resolve_input_size,
)
from core.errors import ConfigError
from core.precision import autocast


class Backbone(nn.Module):
    """A frozen CNN trunk plus its preprocessing: uint8 RGB frames in, conv maps out.

    Input to :meth:`forward`: float tensor (N, 3, S, S), already preprocessed. Output: (N, C, h, w).
    """

    def __init__(self, spec: BackboneSpec, trunk: nn.Module, input_size: int,
                 output_scale: float = 1.0) -> None:
        super().__init__()
        self.spec = spec
        self.trunk = trunk
        self.input_size = input_size
        self.output_scale = output_scale
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.eval()
        self.requires_grad_(False)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 RGB frames (N, H, W, 3) → normalised float (N, 3, S, S) on this module's device."""
        x = frames.to(self.mean.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size),
                                          mode="bilinear", antialias=True, align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.trunk(x)
        return out * self.output_scale if self.output_scale != 1.0 else out

    def feature_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of the conv map for this backbone's input size (computed on the meta device)."""
        return feature_shape(self.spec.name, self.input_size)

    def train(self, mode: bool = True) -> Backbone:
        # The backbone is frozen: batch-norm statistics and dropout must stay in inference mode.
        return super().train(False)


def feature_shape(name: str, input_size: int | None = None) -> tuple[int, int, int]:
    """(C, h, w) of ``name``'s conv map at ``input_size`` without allocating any weights.

    Raises ``ConfigError`` for an unknown name or a too-small input size.
    """
    spec = get_backbone_spec(name)
    if spec.kind == BackboneKind.PRECOMPUTED:
        return (int(spec.feature_dim or spec.out_channels), 1, 1)
    size = resolve_input_size(spec, input_size)
    with torch.device("meta"):
        trunk = spec.trunk(spec.build()).eval()
        out = trunk(torch.empty(1, 3, size, size))
    return tuple(out.shape[1:])  # type: ignore[return-value]


def place_backbone(backbone: nn.Module, device: torch.device) -> nn.Module:
    """Move ``backbone`` to ``device`` for :func:`extract_maps` and return it: on CUDA its weights
    are also laid out channels_last, the format the convolutions are fastest in under autocast."""
    backbone = backbone.to(device)
    if device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    return backbone


def compile_backbone(backbone: Backbone, device: torch.device) -> Backbone:
    """``backbone`` with its forward compiled by ``torch.compile`` (inductor), in place. On the
    CPU inductor builds C++ kernels: raises ``ConfigError`` when no C++ compiler is installed
    (it would fail at the first batch otherwise)."""
    if device.type == "cpu":
        compiler = os.environ.get("CXX", "g++")
        if shutil.which(compiler) is None:
            raise ConfigError(f"--compile needs a C++ compiler on the CPU (torch.compile builds "
                              f"its kernels with one), and {compiler} is not installed",
                              hint="install one (e.g. apt install g++, or set CXX), or leave "
                                   "--compile out")
    backbone.compile(dynamic=False)
    return backbone


@torch.inference_mode()
def extract_maps(backbone: Backbone, frames: torch.Tensor, device: torch.device, *,
                 batch_frames: int = 64, precision: str = "fp32",
                 to_cpu: bool = True) -> torch.Tensor:
    """Run ``backbone`` (placed on ``device`` by :func:`place_backbone`) over uint8 RGB ``frames``
    (N, H, W, 3), ``batch_frames`` at a time, under the autocast of ``precision`` (a resolved
    one: fp32, bf16 or fp16; see :mod:`core.precision`).

    Returns the conv maps (N, C, h, w) as float16, the precision the feature cache stores, on the
    CPU (or where they were computed, without ``to_cpu``). On CUDA the input is channels_last.
    """
    outputs = [_forward(backbone, chunk, device, precision)
               for chunk in frames.split(max(1, batch_frames))]
    maps = torch.cat(outputs)
    return maps.cpu() if to_cpu else maps


def _forward(backbone: Backbone, frames: torch.Tensor, device: torch.device,
             precision: str) -> torch.Tensor:
    x = backbone.preprocess(frames)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, precision):
        out = backbone(x)
    return out.to(torch.float16)
