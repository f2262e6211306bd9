"""Where a backbone's weights come from, and the short id that names them in cache keys.

Three kinds of weights:

- ``imagenet``: the torchvision/timm ImageNet file, looked up in the local caches only
  (``$AVC_WEIGHTS_DIR``, the torch hub cache, the Hugging Face cache); nothing is downloaded;
- ``none``: seeded random initialisation, rescaled to unit output (:func:`unit_scale`), so that
  extraction and prediction build the same network;
- a path to a local state-dict file (``.pth``/``.pt``/``.safetensors``).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import torch
from torch import nn

from core.backbones.network import Backbone
from core.backbones.registry import BackboneKind, BackboneSpec, get_backbone_spec
from core.errors import WeightsUnavailable

RANDOM_INIT = "he-fan-in"  # part of the cache key of weights="none": change it with random_init_

# Parameter prefixes of the classification heads that the trunks drop: a file without them fits.
_HEAD_PREFIXES = {"fc", "classifier", "AuxLogits", "last_linear"}


# --- ImageNet weights in the local caches ------------------------------------------------------


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
        from huggingface_hub import try_to_load_from_cache  # optional: comes with timm
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


# --- weights files -----------------------------------------------------------------------------


def _missing_file(path: Path) -> WeightsUnavailable:
    return WeightsUnavailable(f"weights file {path} does not exist",
                              hint="pass --weights imagenet, none, or an existing file")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Return the tensors of the weights file ``path`` (a ``state_dict`` entry is unwrapped).

    Raises ``WeightsUnavailable`` when the file is missing, unreadable or not a dict of tensors.
    Nothing is unpickled: ``.pth``/``.pt`` files load with ``weights_only=True``.
    """
    if not path.is_file():
        raise _missing_file(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # optional: comes with timm

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        # Not PyTorch's own message: it suggests weights_only=False, which runs the file's code.
        raise WeightsUnavailable(
            f"cannot read weights file {path}: it is not a file of tensors that loads without "
            f"running code ({type(exc).__name__})",
            hint="save the weights as a state dict, torch.save(model.state_dict(), FILE), or "
                 "pass --weights imagenet or none") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"weights file {path} does not hold a state dict of tensors",
                                 hint="save it with torch.save(model.state_dict(), FILE)")
    return state


def load_into(spec: BackboneSpec, full: nn.Module, state: dict[str, torch.Tensor],
              source: Path) -> nn.Module:
    """Load ``state`` into the whole network ``full`` or, failing that, into its trunk; return the
    trunk. Raises ``WeightsUnavailable`` naming ``source`` when the tensors do not fit."""
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
    head_only = all(k.split(".")[0] in _HEAD_PREFIXES for k in missing)
    if not unexpected and head_only and missing:
        return trunk
    raise WeightsUnavailable(
        f"weights file {source} does not fit {spec.name}: "
        f"{len(missing)} missing and {len(unexpected)} unexpected keys "
        f"(e.g. {sorted(missing or unexpected)[:3]}; the trunk has {len(trunk_keys)} tensors)"
    )


def file_digest(path: Path) -> str:
    """The hex BLAKE2b-96 digest of the weights file ``path``: what its cache keys are made of.

    Reads the whole file, so callers compute it once per extraction (see
    ``core.features.ExtractionSpec``). Raises ``WeightsUnavailable`` when the file is missing.
    """
    if not path.is_file():
        raise _missing_file(path)
    return hashlib.blake2b(path.read_bytes(), digest_size=12).hexdigest()


def weights_id(name: str, weights: str, *, init_seed: int = 0) -> str:
    """A short string that identifies the weights, for cache keys: changes when the weights do.

    A weights file is identified by its content (:func:`file_digest`), not its path. Raises
    ``ConfigError`` for an unknown backbone and ``WeightsUnavailable`` for a missing file.
    """
    spec = get_backbone_spec(name)
    if spec.kind != BackboneKind.CNN:
        return spec.kind  # no weights
    if weights == "none":
        return f"none:{RANDOM_INIT}:seed{init_seed}"
    if weights == "imagenet":
        return f"imagenet:{spec.weights_filename}"
    return f"file:{file_digest(Path(weights))}"


# --- random weights ----------------------------------------------------------------------------


def random_init_(trunk: nn.Module) -> None:
    """Seeded random weights for ``weights='none'``: He-normal convolutions scaled by fan-in, zero
    biases, identity batch norm with fresh running statistics. Raises ``RuntimeError`` when a
    tensor is left uninitialised (a layer type this function does not know)."""
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
def unit_scale(backbone: Backbone, seed: int) -> float:
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
