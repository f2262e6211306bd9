"""``build_backbone``: one registered name and its weights in, a frozen :class:`Backbone` out."""

from __future__ import annotations

from pathlib import Path

import torch

from core.backbones.network import Backbone
from core.backbones.registry import BackboneKind, get_backbone_spec, resolve_input_size
from core.backbones.weights import (
    find_imagenet_weights,
    load_into,
    random_init_,
    read_state_dict,
    unit_scale,
)
from core.errors import ConfigError


def build_backbone(name: str, *, weights: str = "imagenet", input_size: int | None = None,
                   init_seed: int = 0) -> Backbone:
    """Build the frozen backbone ``name`` with ``weights`` (``imagenet``, ``none`` or a file path).

    Raises ``ConfigError`` for an unknown name or a too-small input size, and ``WeightsUnavailable``
    when the weights cannot be found offline or do not fit the network.
    """
    spec = get_backbone_spec(name)
    size = resolve_input_size(spec, input_size)
    if spec.kind == BackboneKind.PRECOMPUTED:
        raise ConfigError(f"{spec.name} features are precomputed and come with their dataset; "
                          "there is no network to run on video files")
    if spec.kind == BackboneKind.PIXELS:
        return Backbone(spec, spec.trunk(spec.build()), size)
    if weights == "none":
        # Seeded so that the feature extractor and a later `avc predict` build the same network.
        # Only the trunk is materialised (VGG's unused classifier alone is 120M parameters).
        with torch.device("meta"):
            trunk = spec.trunk(spec.build())
        trunk = trunk.to_empty(device="cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            random_init_(trunk)
            backbone = Backbone(spec, trunk, size)
            backbone.output_scale = unit_scale(backbone, init_seed)
        return backbone
    source = find_imagenet_weights(spec) if weights == "imagenet" else Path(weights).expanduser()
    state = read_state_dict(source)
    with torch.device("meta"):
        full = spec.build()
    full = full.to_empty(device="cpu")
    trunk = load_into(spec, full, state, source)
    return Backbone(spec, trunk, size)
