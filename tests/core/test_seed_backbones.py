"""The other seeds' own CNNs: GoogLeNet (soft attention, 1024×7×7) and ResNet34 (GLA, 512×7×7),
with the same weights handling as the ABDN five, checked against torchvision's own networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from core.backbones import BACKBONES, build_backbone, feature_shape
from core.config import HeadConfig

SHAPES = {"googlenet": (1024, 7, 7), "resnet34": (512, 7, 7)}


def _imagenet_file(tmp_path: Path, name: str) -> Path:
    """A whole-network state dict with recognisable values, as the published file holds."""
    torch.manual_seed(3)
    state = {k: torch.randn_like(v) * 0.05 if v.is_floating_point() else v
             for k, v in BACKBONES[name].build().state_dict().items()}
    for key in [k for k in state if k.endswith("running_var")]:
        state[key] = state[key].abs() + 0.5
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    return path


def _torchvision_maps(name: str, state: dict, frames: torch.Tensor) -> torch.Tensor:
    """The last conv map of torchvision's own network with ``state`` loaded, fed as torchvision's
    pretrained weights are: ImageNet normalisation (GoogLeNet's transform_input on)."""
    if name == "googlenet":
        model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False,
                                             transform_input=True)
        last = model.inception5b
    else:
        model = torchvision.models.resnet34(weights=None)
        last = model.layer4
    model.load_state_dict(state)
    model.eval()
    captured = {}
    last.register_forward_hook(lambda _m, _i, out: captured.setdefault("maps", out))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (frames.permute(0, 3, 1, 2).float() / 255 - mean) / std
    with torch.no_grad():
        model(x)
    return captured["maps"]


@pytest.mark.parametrize("name", list(SHAPES))
def test_conv_map_shapes_at_224(name: str) -> None:
    assert feature_shape(name, 224) == SHAPES[name]


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_weights_file_gives_torchvisions_features(tmp_path: Path, name: str) -> None:
    path = _imagenet_file(tmp_path, name)
    backbone = build_backbone(name, weights=str(path), input_size=96)
    frames = torch.randint(0, 256, (2, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        ours = backbone(backbone.preprocess(frames))
    expected = _torchvision_maps(name, torch.load(path, weights_only=True), frames)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_imagenet_weights_are_looked_up_by_their_published_file(tmp_path: Path,
                                                                monkeypatch) -> None:
    from core.errors import WeightsUnavailable

    monkeypatch.setenv("AVC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsUnavailable, match="googlenet-1378be20.pth"):
        build_backbone("googlenet", weights="imagenet")
    _imagenet_file(tmp_path, "resnet34").rename(tmp_path / "resnet34-b627a593.pth")
    assert build_backbone("resnet34", weights="imagenet", input_size=64).input_size == 64


def test_glas_own_cnn_fine_tunes() -> None:
    from core.models import build_head

    options = {"cnn": "resnet34", "cnn_weights": "none", "hidden": 16, "layers": 1}
    assert HeadConfig("gla", options=options).options["cnn"] == "resnet34"  # checked when made
    head = build_head("gla", in_dim=3, num_classes=4, frames=2, options=options)
    assert head.cnn.channels == 512
    frames = torch.rand(1, 2, 3, 64, 64)
    out = head(frames, None)
    head.loss(out, torch.tensor([1])).backward()
    assert head.cnn.trunk[0].weight.grad is not None  # the CNN trains with the head
