"""The backbone registry: what a backbone is (:class:`BackboneSpec`, :class:`BackboneKind`), the
names backbones are registered under, and the checks every caller shares (the input size).

The registered backbones themselves live in :mod:`core.backbones.zoo`; importing
:mod:`core.backbones` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from torch import nn

from core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


class BackboneKind(StrEnum):
    """What a backbone gives the heads."""

    CNN = "cnn"  # a network with weights, run over the frames once into the feature cache
    PIXELS = "pixels"  # the frames themselves, for models trained end to end; no weights
    PRECOMPUTED = "precomputed"  # features that come with the dataset; nothing is extracted


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and what it produces.

    ``build`` returns the whole classification network with random weights (its state dict is what
    the ImageNet weight file holds); ``trunk`` cuts it down to the last conv map.

    ``kind`` is ``cnn`` (a network with weights), ``pixels`` (the frames themselves, grey, for
    models trained end to end such as the 3D CNN; no weights) or ``precomputed`` (features that
    come with the dataset, such as YouTube-8M's; nothing is extracted).
    """

    name: str
    paper_name: str
    build: Callable[[], nn.Module]
    trunk: Callable[[nn.Module], nn.Module]
    out_channels: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    default_input_size: int = 224
    min_input_size: int = 32
    weights_url: str | None = None
    hf_hub_id: str | None = None
    in_abdn_grid: bool = False
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())
    kind: BackboneKind = BackboneKind.CNN
    feature_dim: int | None = None  # the vector size of a precomputed backbone

    @property
    def weights_filename(self) -> str | None:
        """The file name of the published ImageNet weights, or None when there are none."""
        return self.weights_url.rsplit("/", 1)[-1] if self.weights_url else None


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` to the registry and return it; a duplicate name raises ``ValueError``."""
    if spec.name in BACKBONES:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    BACKBONES[spec.name] = spec
    return spec


def backbone_names(*, abdn_only: bool = False) -> list[str]:
    """The registered backbone names, in registration order (the ABDN five first)."""
    return [n for n, s in BACKBONES.items() if s.in_abdn_grid or not abdn_only]


def get_backbone_spec(name: str) -> BackboneSpec:
    """Return the spec registered under ``name``; raises ``ConfigError`` listing the valid names."""
    key = name.lower()
    if key in BACKBONES:
        return BACKBONES[key]
    raise ConfigError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}",
                      hint="`avc models` lists the backbones, their input sizes and weights")


def resolve_input_size(spec: BackboneSpec, input_size: int | None) -> int:
    """The input size to use: ``input_size`` or the default; raises ``ConfigError`` when too small."""
    size = spec.default_input_size if input_size is None else int(input_size)
    if size < spec.min_input_size:
        raise ConfigError(
            f"input size {size} is too small for {spec.name} (minimum {spec.min_input_size})",
            hint=f"pass --input-size {spec.min_input_size} or more, or leave it out for "
                 f"{spec.name}'s own ({spec.default_input_size})")
    return size
