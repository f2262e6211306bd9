"""The versions that decide what a run computes: avc's packages, the FFmpeg libraries its two
decoders decode with (``core/decoder_versions.py``: they change decoded pixels), and CUDA. A run
records them; `avc --version` prints them."""

from __future__ import annotations

from importlib import metadata

from core.decoder_versions import decoder_versions

PACKAGES = ("avc", "torch", "torchvision", "timm", "av", "decord", "numpy")


def package_versions() -> dict[str, str]:
    """The installed versions of :data:`PACKAGES` (those installed), then the decoders'
    FFmpeg libraries."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {**versions, **decoder_versions()}


def cuda_version() -> str:
    """What PyTorch says of CUDA: the version it was built with and the GPUs it sees."""
    import torch

    built = torch.version.cuda
    if built is None:
        return "none (a CPU build of PyTorch)"
    if not torch.cuda.is_available():
        return f"{built} (no GPU visible)"
    count = torch.cuda.device_count()
    names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    return f"{built}, {count} GPU{'s' if count != 1 else ''} ({', '.join(names)})"


def version_lines() -> list[str]:
    """`avc --version`: one ``name version`` line each."""
    versions = package_versions()
    lines = [f"{name} {versions[name]}" for name in PACKAGES if name in versions]
    labels = {"av ffmpeg": "PyAV's FFmpeg", "av libraries": "PyAV's FFmpeg libraries",
              "decord libraries": "decord's FFmpeg libraries"}
    lines += [f"{label}: {versions[key]}" for key, label in labels.items() if key in versions]
    return [*lines, f"CUDA {cuda_version()}"]
