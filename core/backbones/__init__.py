"""The registry of frozen 2D CNN backbones that turn frames into conv maps.

Every backbone exposes its last convolutional map (C × h × w) for an input of ``input_size`` pixels,
its RGB ImageNet preprocessing (mean/std on RGB input in [0, 1]; the original ABDN code fed BGR frames
to RGB networks, avc does not), and three kinds of weights (``imagenet``, ``none``, or a local file).

The package is split by job, each module importing only those listed before it:

- :mod:`~core.backbones.registry`: :class:`BackboneSpec`, :class:`BackboneKind` and the registry;
- :mod:`~core.backbones.zoo`: the registered backbones (registered when this package is imported);
- :mod:`~core.backbones.network`: the frozen :class:`Backbone` module and :func:`extract_maps`, the
  forward pass shared by extraction and prediction;
- :mod:`~core.backbones.weights`: ImageNet weights in the local caches, weights files,
  :func:`weights_id`, random initialisation and its scaling;
- :mod:`~core.backbones.factory`: :func:`build_backbone`.
"""

from __future__ import annotations

from core.backbones.registry import (
    BACKBONES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    BackboneKind,
    BackboneSpec,
    backbone_names,
    get_backbone_spec,
    register_backbone,
    resolve_input_size,
)
from core.backbones.zoo import GreyPixels, RGBPixels, TinyCNN
from core.backbones.network import (
    Backbone,
    compile_backbone,
    extract_maps,
    feature_shape,
    place_backbone,
)
from core.backbones.weights import (
    RANDOM_INIT,
    file_digest,
    find_imagenet_weights,
    read_state_dict,
    weights_id,
    weights_search_paths,
)
from core.backbones.factory import build_backbone

__all__ = [
    "BACKBONES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INCEPTION_MEAN",
    "INCEPTION_STD",
    "RANDOM_INIT",
    "Backbone",
    "BackboneKind",
    "BackboneSpec",
    "GreyPixels",
    "RGBPixels",
    "TinyCNN",
    "backbone_names",
    "build_backbone",
    "compile_backbone",
    "extract_maps",
    "feature_shape",
    "read_state_dict",
    "file_digest",
    "find_imagenet_weights",
    "get_backbone_spec",
    "place_backbone",
    "register_backbone",
    "resolve_input_size",
    "weights_id",
    "weights_search_paths",
]
