"""VGGish, the audio network behind YouTube-8M's audio features, and where its weights come from.

Input: log-mel examples (N, 1, 96, 64) from :mod:`core.yt8m_features.audio`; output: one
128-dimensional embedding per example. The layers and parameter names are those of the published
PyTorch port (harritaylor/torchvggish, whose weights were converted from the TensorFlow model),
so its file loads as it is:

- ``features``: conv 3×3 64 → pool → 128 → pool → 256, 256 → pool → 512, 512 → pool, each conv
  followed by a ReLU (parameters ``features.{0,3,6,8,11,13}.*``);
- the (N, 512, 6, 4) maps flattened in TensorFlow's (height, width, channel) order, 12,288 values;
- ``embeddings``: fully connected 4,096 → 4,096 → 128, each followed by a ReLU, as in the port
  (``embeddings.{0,2,4}.*``). 72.1 M parameters.

The port's optional post-processing (its own PCA and quantisation) is not part of this network:
avc's PCA step (:mod:`core.yt8m_features.pca`) takes its place.

Weights: ``audioset`` is the port's file, :data:`WEIGHTS_FILENAME`, looked up in
``$AVC_WEIGHTS_DIR`` and the torch hub cache (nothing is downloaded); ``none`` is seeded random
weights; anything else is a path to a state-dict file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from core.errors import WeightsUnavailable

WEIGHTS_FILENAME = "vggish-10086976.pth"
WEIGHTS_URL = ("https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
               + WEIGHTS_FILENAME)
EMBEDDING_SIZE = 128
_PORT_EXTRAS = ("pproc.",)  # the port's post-processing tensors, when saved with the network
_LAYERS = (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool")


class VGGish(nn.Module):
    """VGGish: (N, 1, 96, 64) log-mel examples → (N, 128) embeddings."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for layer in _LAYERS:
            if layer == "pool":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(layer), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(layer)
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_SIZE), nn.ReLU(inplace=True),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        maps = self.features(examples)
        # TensorFlow flattened NHWC maps; the port's FC weights expect that order.
        return self.embeddings(maps.permute(0, 2, 3, 1).flatten(1))


def weights_search_paths() -> list[Path]:
    """Where the ``audioset`` weights file is looked for, in order (existing or not)."""
    paths = []
    if os.environ.get("AVC_WEIGHTS_DIR"):
        paths.append(Path(os.environ["AVC_WEIGHTS_DIR"]) / WEIGHTS_FILENAME)
    paths.append(Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILENAME)
    return paths


def find_vggish_weights() -> Path:
    """Return the local VGGish weights file of the published port.

    Raises ``WeightsUnavailable`` saying which file to place where when none is found.
    """
    for path in weights_search_paths():
        if path.is_file():
            return path
    where = weights_search_paths()[-1]
    raise WeightsUnavailable(
        f"VGGish weights are not available offline: {WEIGHTS_FILENAME} was not found in "
        f"{where.parent}",
        hint=f"download {WEIGHTS_URL} on a connected machine and place it at {where} (or in "
             "$AVC_WEIGHTS_DIR), or pass --vggish-weights none, or --vggish-weights PATH")


def _random_init_(model: VGGish, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            # He fan-in keeps the activations' scale through the ReLUs of a random network.
            std = (2.0 / module.weight[0].numel()) ** 0.5
            with torch.no_grad():
                module.weight.normal_(0.0, std, generator=generator)
                module.bias.zero_()


def build_vggish(weights: str = "audioset", *, seed: int = 0) -> VGGish:
    """Return VGGish in eval mode with ``weights``: ``audioset`` (the port's file, found by
    :func:`find_vggish_weights`), ``none`` (seeded random) or a path to a state-dict file.

    Raises ``WeightsUnavailable`` when the file is missing, unreadable or does not fit.
    """
    from core.backbones.weights import read_state_dict

    model = VGGish()
    if weights == "none":
        _random_init_(model, seed)
        return model.eval()
    source = find_vggish_weights() if weights == "audioset" else Path(weights)
    if not source.is_file():
        raise WeightsUnavailable(f"VGGish weights file {source} does not exist",
                                 hint="pass --vggish-weights audioset, none, or an existing file")
    try:
        raw = read_state_dict(source)
    except WeightsUnavailable as exc:
        # read_state_dict's hint names Inception's --weights; this is --vggish-weights.
        raise WeightsUnavailable(
            exc.message, hint=f"pass --vggish-weights the torchvggish port's {WEIGHTS_FILENAME} "
                              "(a state dict of tensors), audioset or none") from exc
    state = {key: value for key, value in raw.items() if not key.startswith(_PORT_EXTRAS)}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[1].strip() if len(lines) > 1 else lines[0]
        raise WeightsUnavailable(
            f"weights file {source} does not fit VGGish: {reason}",
            hint=f"use the torchvggish port's {WEIGHTS_FILENAME} (features.* and embeddings.* "
                 "tensors), or --vggish-weights none") from exc
    return model.eval()


def weights_identity(weights: str, *, seed: int = 0) -> str:
    """A short text naming the weights, for the run's report: ``none:seed0``, ``file:NAME``."""
    if weights == "none":
        return f"none:seed{seed}"
    source = find_vggish_weights() if weights == "audioset" else Path(weights)
    return f"file:{source.name}"


@torch.inference_mode()
def embed(model: VGGish, examples: torch.Tensor, *, batch: int = 64) -> torch.Tensor:
    """Return the float32 (N, 128) embeddings of (N, 1, 96, 64) ``examples``, ``batch`` at a
    time."""
    device = next(model.parameters()).device
    out = [model(examples[i:i + batch].to(device)).float().cpu()
           for i in range(0, len(examples), batch)]
    return torch.cat(out) if out else torch.zeros(0, EMBEDDING_SIZE)
