"""Benchmark of feature extraction: does decoding keep the CNN busy?

Usage: ``python benchmarks/bench_extract.py [--data DIR] [--backbones vgg16,resnet50]
[--sizes 112,224] [--workers N]``

For each backbone × input size, over every clip under DIR (default ``../shared/data/videos``
beside the repository, ``corrupted.mp4`` skipped) sampled at 1 fps, it times:

* ``bare forward``: the frames are decoded and preprocessed beforehand; only the CNN's forward
  passes over the same tensors, in batches of ``--batch-frames``, are timed. The ceiling.
* ``extract_features, N workers``: the real pipeline end to end (decode in DataLoader workers,
  preprocess, forward, write the float16 cache) into an empty cache.
* ``extract_features, in process``: the same with decoding in the main process, no overlap.

The weights are seeded random (``none``): the same arithmetic as ImageNet weights. The ratio
end-to-end / bare says how busy the pipeline keeps the CNN (1.0 = decoding fully hidden).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "videos"

try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core.backbones import build_backbone  # noqa: E402
from core.features import ExtractionSpec, FeatureCache, default_workers, extract_features  # noqa: E402
from core.memory import keep_freed_memory  # noqa: E402
from core.precision import autocast  # noqa: E402
from core.sampling import Sampling  # noqa: E402
from core.video import sample_frames  # noqa: E402

ONE_FPS = Sampling("fps", fps=1.0)
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}


def find_clips(data: Path) -> list[Path]:
    """Every video under ``data`` except the deliberately corrupted one; SystemExit if none."""
    clips = sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                   and p.name != "corrupted.mp4")
    if not clips:
        raise SystemExit(f"no video clips found under {data}")
    return clips


@torch.inference_mode()
def bare_forward(backbone, batches: list[torch.Tensor], precision: str = "fp32") -> float:
    """Seconds for the forward passes alone over already preprocessed ``batches``."""
    cpu = torch.device("cpu")
    with autocast(cpu, precision):
        for x in {tuple(b.shape): b for b in batches}.values():  # warm-up: each batch shape
            backbone(x)
        start = time.perf_counter()
        for x in batches:
            backbone(x)
    return time.perf_counter() - start


def end_to_end(clips: list[Path], spec: ExtractionSpec, backbone, workers: int,
               batch_frames: int) -> tuple[int, float]:
    """(frames, seconds) of one extraction of ``clips`` into a fresh cache."""
    with tempfile.TemporaryDirectory() as cache_dir:
        report = extract_features(clips, spec, FeatureCache(cache_dir), device="cpu",
                                  batch_frames=batch_frames, num_workers=workers,
                                  backbone=backbone)
    if report.failed:
        raise SystemExit(f"unreadable clips: {report.failed}")
    return report.frames, report.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of video clips")
    parser.add_argument("--backbones", default="vgg16,resnet50")
    parser.add_argument("--sizes", default="112,224")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--batch-frames", type=int, default=64)
    parser.add_argument("--precisions", default="fp32",
                        help="comma-separated: fp32, bf16, fp16, auto (resolved on the CPU)")
    args = parser.parse_args(argv)
    clips = find_clips(args.data)
    print(f"{len(clips)} clips under {args.data}, 1 fps, {torch.get_num_threads()} torch threads, "
          f"{args.workers} decode workers\n")
    keep_freed_memory()  # as extract_features does on the CPU: the bare forward too
    header = (f"{'backbone':10s} {'size':>4s} {'prec':>4s} {'frames':>6s} {'bare fr/s':>9s} "
              f"{'e2e fr/s':>9s} {'e2e/bare':>8s} {'in-proc fr/s':>12s} {'in-proc/bare':>12s}")
    print(header)
    print("-" * len(header))
    for name in args.backbones.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            backbone = build_backbone(name, weights="none", input_size=size)
            frames = torch.cat([torch.from_numpy(sample_frames(p, ONE_FPS, size=size).frames)
                                for p in clips])
            batches = [backbone.preprocess(chunk) for chunk in frames.split(args.batch_frames)]
            for precision in args.precisions.split(","):
                spec = ExtractionSpec.create(name, weights="none", input_size=size,
                                             sampling=ONE_FPS, precision=precision,
                                             device="cpu")
                bare = len(frames) / bare_forward(backbone, batches, spec.precision)
                n, seconds = end_to_end(clips, spec, backbone, args.workers, args.batch_frames)
                e2e = n / seconds
                n0, seconds0 = end_to_end(clips, spec, backbone, 0, args.batch_frames)
                inproc = n0 / seconds0
                print(f"{name:10s} {size:4d} {spec.precision:>4s} {n:6d} {bare:9.1f} {e2e:9.1f} "
                      f"{e2e / bare:8.2f} {inproc:12.1f} {inproc / bare:12.2f}", flush=True)

if __name__ == "__main__":
    main()
