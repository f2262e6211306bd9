"""The registry of frozen 2D CNN backbones that turn frames into conv maps.

Every backbone exposes its last convolutional map (C × h × w) for an input of ``input_size`` pixels,
its RGB ImageNet preprocessing (mean/std on RGB input in [0, 1]; the original ABDN code fed BGR frames
to RGB networks, avc does not), and three kinds of weights:

- ``imagenet``: the torchvision/timm ImageNet weights, loaded from the local cache only;
- ``none``: random initialisation, seeded so that extraction and prediction build the same network;
- a path to a local state-dict file (``.pth``/``.pt``/``.safetensors``).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError, WeightsUnavailable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


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
    kind: str = "cnn"
    feature_dim: int | None = None  # the vector size of a precomputed backbone

    @property
    def weights_filename(self) -> str | None:
        return self.weights_url.rsplit("/", 1)[-1] if self.weights_url else None


BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` to the registry; a duplicate name raises ``ValueError``."""
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
    raise ConfigError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")


# --- the registered backbones ------------------------------------------------------------------


def _torchvision_builder(fn_name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from torchvision import models

        return getattr(models, fn_name)(weights=None, **kwargs)

    return build


def _children_trunk(drop_last: int) -> Callable[[nn.Module], nn.Module]:
    def trunk(model: nn.Module) -> nn.Module:
        return nn.Sequential(*list(model.children())[:-drop_last])

    return trunk


def _inception_trunk(model: nn.Module) -> nn.Module:
    # Everything up to Mixed_7c (Keras "mixed10"); the auxiliary classifier and the head are dropped.
    keep = [
        child
        for name, child in model.named_children()
        if name not in {"AuxLogits", "avgpool", "dropout", "fc"}
    ]
    return nn.Sequential(*keep)


def _xception_build() -> nn.Module:
    import timm

    return timm.create_model("legacy_xception", pretrained=False)


class _TimmFeatures(nn.Module):
    """Wraps a timm model so that ``forward`` is its ``forward_features`` (the last conv map)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class TinyCNN(nn.Module):
    """A small fast CNN (4 conv blocks, stride 16, 128 channels) for quick experiments and tests."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (16, 32, 64, 128):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


register_backbone(
    BackboneSpec(
        name="vgg16",
        paper_name="VGG16",
        build=_torchvision_builder("vgg16"),
        trunk=lambda m: m.features,  # ends with block5_pool, as the Keras include_top=False model
        out_channels=512,
        weights_url="https://download.pytorch.org/models/vgg16-397923af.pth",
        in_abdn_grid=True,
    )
)
register_backbone(
    BackboneSpec(
        name="vgg19",
        paper_name="VGG19",
        build=_torchvision_builder("vgg19"),
        trunk=lambda m: m.features,
        out_channels=512,
        weights_url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        in_abdn_grid=True,
    )
)
register_backbone(
    BackboneSpec(
        name="inceptionv3",
        paper_name="InceptionV3",
        build=_torchvision_builder("inception_v3", aux_logits=True, init_weights=False,
                                   transform_input=False),
        trunk=_inception_trunk,
        out_channels=2048,
        # torchvision's Inception weights expect inputs scaled to [-1, 1] (its transform_input).
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        min_input_size=75,
        weights_url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        in_abdn_grid=True,
        aliases=("inception_v3",),
    )
)
register_backbone(
    BackboneSpec(
        name="resnet50",
        paper_name="ResNet50",
        build=_torchvision_builder("resnet50"),
        trunk=_children_trunk(2),  # drop avgpool and fc: the 7×7×2048 map of Keras 2.2.4
        out_channels=2048,
        weights_url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
        in_abdn_grid=True,
    )
)
register_backbone(
    BackboneSpec(
        name="xception",
        paper_name="Xception",
        build=_xception_build,
        trunk=_TimmFeatures,  # ends at block14_sepconv2_act, as Keras
        out_channels=2048,
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        weights_url=(
            "https://github.com/rwightman/pytorch-image-models/releases/download/"
            "v0.1-cadene/xception-43020ad28.pth"
        ),
        hf_hub_id="timm/legacy_xception.tf_in1k",
        in_abdn_grid=True,
    )
)
register_backbone(
    BackboneSpec(
        name="mobilenet_v3_small",
        paper_name="MobileNetV3-S",
        build=_torchvision_builder("mobilenet_v3_small"),
        trunk=lambda m: m.features,
        out_channels=576,
        weights_url="https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth",
        notes="small and fast, with ImageNet weights",
    )
)
register_backbone(
    BackboneSpec(
        name="tinycnn",
        paper_name="TinyCNN",
        build=TinyCNN,
        trunk=lambda m: m.features,
        out_channels=128,
        default_input_size=112,
        min_input_size=16,
        notes="random weights only; for fast experiments and tests",
    )
)


class GreyPixels(nn.Module):
    """The "pixels" trunk: RGB in [0, 1] (N, 3, S, S) → grey (N, 1, S, S), ITU-R BT.601 luma."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.luma).sum(dim=1, keepdim=True)


register_backbone(
    BackboneSpec(
        name="pixels",
        paper_name="pixels",
        build=GreyPixels,
        trunk=lambda m: m,
        out_channels=1,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        default_input_size=64,
        min_input_size=32,
        kind="pixels",
        notes="grey frames in [0, 1], no weights: the input of end-to-end models (3d-cnn)",
    )
)


class RGBPixels(nn.Module):
    """The "rgb" trunk: the RGB frames in [0, 1] as they are, (N, 3, S, S)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


register_backbone(
    BackboneSpec(
        name="rgb",
        paper_name="RGB frames",
        build=RGBPixels,
        trunk=lambda m: m,
        out_channels=3,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        default_input_size=112,
        min_input_size=32,
        kind="pixels",
        notes="RGB frames in [0, 1], no weights: the input of fine-tuned models (gla -o cnn=...)",
    )
)


def _no_network() -> nn.Module:
    raise ConfigError("precomputed features have no network to build")


register_backbone(
    BackboneSpec(
        name="yt8m",
        paper_name="YouTube-8M features",
        build=_no_network,
        trunk=lambda m: m,
        out_channels=1152,
        default_input_size=1,
        min_input_size=1,
        kind="precomputed",
        feature_dim=1152,
        notes="YouTube-8M's precomputed per-second features (Inception-PCA rgb 1024 + VGGish "
              "audio 128); only with --layout youtube8m",
    )
)


# --- weights -----------------------------------------------------------------------------------


def weights_search_paths(spec: BackboneSpec) -> list[Path]:
    """Where ``imagenet`` weights for ``spec`` are looked for, in order (existing or not)."""
    filename = spec.weights_filename
    if filename is None:
        return []
    paths = []
    if os.environ.get("AVC_WEIGHTS_DIR"):
        paths.append(Path(os.environ["AVC_WEIGHTS_DIR"]) / filename)
    paths.append(Path(torch.hub.get_dir()) / "checkpoints" / filename)
    return paths


def _hf_cached_file(spec: BackboneSpec) -> Path | None:
    if spec.hf_hub_id is None:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(spec.hf_hub_id, "model.safetensors")
    return Path(found) if isinstance(found, str) else None


def find_imagenet_weights(spec: BackboneSpec) -> Path:
    """Return the local ImageNet weight file of ``spec``.

    Raises ``WeightsUnavailable`` saying which file to place where when none is found; nothing is
    downloaded.
    """
    if spec.weights_url is None:
        raise WeightsUnavailable(
            f"{spec.name} has no published ImageNet weights",
            hint="pass --weights none, or --weights PATH to a state-dict file of your own",
        )
    for path in weights_search_paths(spec):
        if path.is_file():
            return path
    hf = _hf_cached_file(spec)
    if hf is not None:
        return hf
    where = weights_search_paths(spec)[-1]
    raise WeightsUnavailable(
        f"ImageNet weights for {spec.name} are not available offline: {spec.weights_filename} "
        f"was not found in {where.parent}",
        hint=(
            f"download {spec.weights_url} on a connected machine and place it at {where} "
            "(or in $AVC_WEIGHTS_DIR), or pass --weights none, or --weights PATH"
        ),
    )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} does not exist",
                                 hint="pass --weights imagenet, none, or an existing file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise WeightsUnavailable(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"weights file {path} does not hold a state dict of tensors")
    return state


def _load_into(spec: BackboneSpec, full: nn.Module, state: dict[str, torch.Tensor],
               source: Path) -> nn.Module:
    """Load ``state`` into the whole network or, failing that, into its trunk; return the trunk."""
    if spec.name == "xception":
        # timm's legacy Xception checkpoints name the classifier "last_linear"; timm renames it on load.
        state = {("fc" + k[len("last_linear"):] if k.startswith("last_linear") else k): v
                 for k, v in state.items()}
    try:
        missing, unexpected = full.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise WeightsUnavailable(f"weights file {source} does not fit {spec.name}: "
                                 f"{str(exc).splitlines()[-1].strip()}") from exc
    trunk = spec.trunk(full)
    trunk_keys = set(trunk.state_dict())
    if not unexpected and not missing:
        return trunk
    if trunk_keys and set(state) == trunk_keys:
        # A file holding only the trunk's parameters is fine too.
        trunk.load_state_dict(state)
        return trunk
    head_only = all(k.split(".")[0] in {"fc", "classifier", "AuxLogits", "last_linear"}
                    for k in missing)
    if not unexpected and head_only and missing:
        return trunk
    raise WeightsUnavailable(
        f"weights file {source} does not fit {spec.name}: "
        f"{len(missing)} missing and {len(unexpected)} unexpected keys "
        f"(e.g. {sorted(missing or unexpected)[:3]}; the trunk has {len(trunk_keys)} tensors)"
    )


def weights_id(name: str, weights: str, *, init_seed: int = 0) -> str:
    """A short string that identifies the weights, for cache keys: changes when the weights do."""
    spec = get_backbone_spec(name)
    if spec.kind != "cnn":
        return spec.kind  # no weights
    if weights == "none":
        return f"none:{RANDOM_INIT}:seed{init_seed}"
    if weights == "imagenet":
        return f"imagenet:{spec.weights_filename}"
    path = Path(weights)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} does not exist",
                                 hint="pass --weights imagenet, none, or an existing file")
    digest = hashlib.blake2b(path.read_bytes(), digest_size=12).hexdigest()
    return f"file:{digest}"


# --- the module used by extraction and prediction ----------------------------------------------


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


RANDOM_INIT = "he-fan-in"  # part of the cache key of weights="none": change it with _he_init_


def _he_init_(trunk: nn.Module) -> None:
    """Seeded random weights for ``weights='none'``: He-normal convolutions scaled by fan-in, zero
    biases, identity batch norm with fresh running statistics."""
    for module in trunk.modules():
        if isinstance(module, nn.Conv2d):
            # Fan-in keeps the activations' variance through every layer of a random network.
            # Fan-out (torchvision's choice for training) shrinks it wherever channels widen:
            # in Xception the separable convolutions then fade away and only the strided 1×1
            # shortcuts remain, which sample a handful of pixels; its features were useless.
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    leftover = [name for name, t in [*trunk.named_parameters(), *trunk.named_buffers()]
                if t.is_meta]
    if leftover:
        raise RuntimeError(f"uninitialised tensors after random init: {leftover[:3]}")


@torch.inference_mode()
def _unit_scale(backbone: Backbone, seed: int) -> float:
    """The factor that brings a randomly initialised trunk's output to unit standard deviation.

    Random networks without ImageNet training shrink or blow up activations by orders of magnitude
    (1e-8 for a default-initialised Inception, 1e2 for ResNet50), which float16 storage and the
    LSTM's saturating gates cannot take. The factor is measured on fixed seeded noise images, so it
    is the same at extraction and at prediction time and does not depend on the dataset.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, (4, backbone.input_size, backbone.input_size, 3),
                          generator=generator, dtype=torch.uint8)
    std = backbone.trunk(backbone.preprocess(noise)).float().std().item()
    return 1.0 / std if std > 0 and math.isfinite(std) else 1.0


def feature_shape(name: str, input_size: int | None = None) -> tuple[int, int, int]:
    """(C, h, w) of ``name``'s conv map at ``input_size`` without allocating any weights."""
    spec = get_backbone_spec(name)
    if spec.kind == "precomputed":
        return (int(spec.feature_dim or spec.out_channels), 1, 1)
    size = resolve_input_size(spec, input_size)
    with torch.device("meta"):
        trunk = spec.trunk(spec.build()).eval()
        out = trunk(torch.empty(1, 3, size, size))
    return tuple(out.shape[1:])  # type: ignore[return-value]


def resolve_input_size(spec: BackboneSpec, input_size: int | None) -> int:
    """The input size to use: ``input_size`` or the default; raises ``ConfigError`` when too small."""
    size = spec.default_input_size if input_size is None else int(input_size)
    if size < spec.min_input_size:
        raise ConfigError(
            f"input size {size} is too small for {spec.name} (minimum {spec.min_input_size})"
        )
    return size


def build_backbone(name: str, *, weights: str = "imagenet", input_size: int | None = None,
                   init_seed: int = 0) -> Backbone:
    """Build the frozen backbone ``name`` with ``weights`` (``imagenet``, ``none`` or a file path).

    Raises ``ConfigError`` for an unknown name or a too-small input size, and ``WeightsUnavailable``
    when the weights cannot be found offline or do not fit the network.
    """
    spec = get_backbone_spec(name)
    size = resolve_input_size(spec, input_size)
    if spec.kind == "precomputed":
        raise ConfigError(f"{spec.name} features are precomputed and come with their dataset; "
                          "there is no network to run on video files")
    if spec.kind == "pixels":
        return Backbone(spec, spec.trunk(spec.build()), size)
    if weights == "none":
        # Seeded so that the feature extractor and a later `avc predict` build the same network.
        # Only the trunk is materialised (VGG's unused classifier alone is 120M parameters).
        with torch.device("meta"):
            trunk = spec.trunk(spec.build())
        trunk = trunk.to_empty(device="cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            _he_init_(trunk)
            backbone = Backbone(spec, trunk, size)
            backbone.output_scale = _unit_scale(backbone, init_seed)
        return backbone
    source = find_imagenet_weights(spec) if weights == "imagenet" else Path(weights).expanduser()
    state = _read_state_dict(source)
    with torch.device("meta"):
        full = spec.build()
    full = full.to_empty(device="cpu")
    trunk = _load_into(spec, full, state, source)
    return Backbone(spec, trunk, size)
