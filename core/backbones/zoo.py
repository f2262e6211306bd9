"""The registered backbones: the ABDN five (VGG16, VGG19, InceptionV3, ResNet50, Xception), the
other seeds' own (GoogLeNet for soft attention, ResNet34 for GLA), small fast ones (MobileNetV3-S,
TinyCNN), the frames themselves (``pixels``, ``rgb``) and YouTube-8M's
precomputed features (``yt8m``).

Each entry builds the whole classification network with random weights and cuts it to the last
conv map, matching the Keras ``include_top=False`` models ABDN used. Importing this module registers
them; :mod:`core.backbones` does so on import.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from core.backbones.registry import (
    INCEPTION_MEAN,
    INCEPTION_STD,
    BackboneKind,
    BackboneSpec,
    register_backbone,
)
from core.errors import ConfigError


def _torchvision_builder(fn_name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from torchvision import (
            models,  # imported when a network is built, not when names are listed
        )

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


def _googlenet_trunk(model: nn.Module) -> nn.Module:
    # Everything up to inception5b, the last conv map; the auxiliary classifiers and head dropped.
    keep = [child for name, child in model.named_children()
            if name not in {"aux1", "aux2", "avgpool", "dropout", "fc"}]
    return nn.Sequential(*keep)


def _xception_build() -> nn.Module:
    import timm  # imported when a network is built, not when names are listed

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


class GreyPixels(nn.Module):
    """The "pixels" trunk: RGB in [0, 1] (N, 3, S, S) → grey (N, 1, S, S), ITU-R BT.601 luma."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.luma).sum(dim=1, keepdim=True)


class RGBPixels(nn.Module):
    """The "rgb" trunk: the RGB frames in [0, 1] as they are, (N, 3, S, S)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _no_network() -> nn.Module:
    raise ConfigError("precomputed features have no network to build")


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
        name="googlenet",
        paper_name="GoogLeNet",
        # The whole network of torchvision's weight file, auxiliary classifiers included.
        build=_torchvision_builder("googlenet", aux_logits=True, init_weights=True,
                                   transform_input=False),
        trunk=_googlenet_trunk,
        out_channels=1024,
        # torchvision's transform_input turns ImageNet-normalised input into (x - 0.5) / 0.5,
        # what these weights expect: the same as normalising that way directly.
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
        weights_url="https://download.pytorch.org/models/googlenet-1378be20.pth",
        notes="soft attention's CNN (Sharma et al.)",
    )
)
register_backbone(
    BackboneSpec(
        name="resnet34",
        paper_name="ResNet34",
        build=_torchvision_builder("resnet34"),
        trunk=_children_trunk(2),  # drop avgpool and fc
        out_channels=512,
        weights_url="https://download.pytorch.org/models/resnet34-b627a593.pth",
        notes="GLA's CNN (Zheng et al.)",
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
        kind=BackboneKind.PIXELS,
        notes="grey frames in [0, 1], no weights: the input of end-to-end models (3d-cnn)",
    )
)
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
        kind=BackboneKind.PIXELS,
        notes="RGB frames in [0, 1], no weights: the input of fine-tuned models (gla -o cnn=...)",
    )
)
register_backbone(
    BackboneSpec(
        name="yt8m",
        paper_name="YouTube-8M features",
        build=_no_network,
        trunk=lambda m: m,
        out_channels=1152,
        default_input_size=1,
        min_input_size=1,
        kind=BackboneKind.PRECOMPUTED,
        feature_dim=1152,
        notes="YouTube-8M's precomputed per-second features (Inception-PCA rgb 1024 + VGGish "
              "audio 128); only with --layout youtube8m",
    )
)
