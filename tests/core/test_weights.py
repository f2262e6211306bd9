"""Backbone weights: ImageNet files from the local caches, local files, and the clear errors when
they are missing or do not fit. Nothing is downloaded: the tests write the weight files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.backbones import (
    BACKBONES,
    build_backbone,
    find_imagenet_weights,
    weights_id,
    weights_search_paths,
)
from core.errors import WeightsUnavailable


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub folder and no AVC_WEIGHTS_DIR or Hugging Face cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("AVC_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # so that TORCH_HOME decides
    return tmp_path / "torch" / "hub" / "checkpoints"


def _reference_state(name: str) -> dict[str, torch.Tensor]:
    """A full state dict for ``name`` with recognisable values (what a real file would hold)."""
    torch.manual_seed(7)
    return {k: torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v
            for k, v in BACKBONES[name].build().state_dict().items()}


def test_missing_imagenet_weights_say_what_to_place_where(hub: Path) -> None:
    with pytest.raises(WeightsUnavailable) as info:
        build_backbone("resnet50", weights="imagenet")
    error, filename = info.value, BACKBONES["resnet50"].weights_filename
    assert filename in error.message
    assert "not available offline" in error.message
    assert str(hub / filename) in error.hint
    assert "--weights none" in error.hint


def test_imagenet_weights_load_from_the_torch_hub_cache(hub: Path) -> None:
    state = _reference_state("resnet50")
    hub.mkdir(parents=True)
    torch.save(state, hub / BACKBONES["resnet50"].weights_filename)
    backbone = build_backbone("resnet50", weights="imagenet", input_size=64)
    assert torch.equal(backbone.trunk.state_dict()["0.weight"], state["conv1.weight"])
    assert backbone(torch.zeros(1, 3, 64, 64)).shape == (1, 2048, 2, 2)


def test_avc_weights_dir_comes_first(hub: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "weights"
    own.mkdir()
    monkeypatch.setenv("AVC_WEIGHTS_DIR", str(own))
    spec = BACKBONES["vgg16"]
    assert weights_search_paths(spec)[0] == own / spec.weights_filename
    torch.save(_reference_state("vgg16"), own / spec.weights_filename)
    assert find_imagenet_weights(spec) == own / spec.weights_filename


def test_a_local_file_with_only_the_trunk_loads(tmp_path: Path) -> None:
    full = _reference_state("tinycnn")
    trunk = {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}
    path = tmp_path / "tiny-trunk.pth"
    torch.save(trunk, path)
    backbone = build_backbone("tinycnn", weights=str(path), input_size=32)
    assert torch.equal(backbone.trunk.state_dict()["0.weight"], full["features.0.weight"])
    assert weights_id("tinycnn", str(path)).startswith("file:")
    # The cache key follows the file's content, not its name.
    again = tmp_path / "renamed.pth"
    again.write_bytes(path.read_bytes())
    assert weights_id("tinycnn", str(again)) == weights_id("tinycnn", str(path))


def test_a_file_for_another_network_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "vgg.pth"
    torch.save(_reference_state("tinycnn"), path)
    with pytest.raises(WeightsUnavailable, match="does not fit vgg16"):
        build_backbone("vgg16", weights=str(path))


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_unreadable_or_missing_files_are_clear_errors(tmp_path: Path, content: bytes | None
                                                      ) -> None:
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsUnavailable, match=str(path)):
        build_backbone("tinycnn", weights=str(path))


def test_small_cnn_has_no_imagenet_weights() -> None:
    with pytest.raises(WeightsUnavailable, match="no published ImageNet weights") as info:
        build_backbone("tinycnn", weights="imagenet")
    assert "--weights none" in info.value.hint
