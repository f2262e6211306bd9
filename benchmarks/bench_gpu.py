"""One short prepared run of avc's GPU paths: what a machine with a CUDA GPU does with them.

Usage: ``python benchmarks/bench_gpu.py [--device cuda] [--json OUT.json] [--tiny]``

On a CUDA device it measures, at full size:

1. **Extraction** per backbone (VGG16, ResNet50, InceptionV3, Xception at their ABDN input
   sizes): the bare forward pass in fp32 and in the precision ``auto`` picks (fp16 autocast,
   channels_last), against ``extract_features`` end to end on synthetic H.264 videos (decoded
   by the worker processes the job's CPUs allow). Frames/s and the ratio end-to-end / bare.
2. **A head's epoch**: ``train_head`` on VGG16's flatten features (25,088 a frame) for the
   ABDN head, in fp32 and in ``auto``; seconds per epoch and peak GPU memory.
3. **Several heads sharing the GPU**: 1, 2 and 4 processes each training that head at once;
   epochs per second in total (how much a fractional ``--gpus-per-job`` gains).
4. **NeXtVLAD data-parallel on streamed YouTube-8M records** (the paper's sizes: 89 M
   parameters, batch 160; 300-second records of random bytes): seconds per epoch and records/s
   in 1 process and in one per GPU (``--processes``, up to 2), each reading its own shards.

Without a GPU (or with ``--tiny``) it runs the same steps on the CPU at tiny sizes, so that the
test suite keeps the script working; those figures mean nothing. ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core.backbones import build_backbone, extract_maps, place_backbone  # noqa: E402
from core.data.synthetic import SyntheticSpec, write_synthetic_dataset  # noqa: E402
from core.features import ExtractionSpec, FeatureCache, extract_features  # noqa: E402
from core.models import build_head  # noqa: E402
from core.precision import resolve_precision  # noqa: E402
from core.presets import PRESETS  # noqa: E402
from core.sequences import SequenceSet  # noqa: E402
from core.train import TrainSettings, train_head  # noqa: E402

FULL = {"backbones": {"vgg16": 224, "resnet50": 224, "inceptionv3": 299, "xception": 299},
        "videos_per_class": 8, "batch_frames": 128, "head_dim": 25088, "head_videos": 2048,
        "frames": 8, "classes": 101, "batch": 128, "epochs": 3, "sharing": (1, 2, 4),
        "yt8m": {"shards": 8, "records": 400, "batch": 160, "options": {"audio_dim": 128}}}
TINY = {"backbones": {"tinycnn": 32}, "videos_per_class": 1, "batch_frames": 16,
        "head_dim": 64, "head_videos": 64, "frames": 4, "classes": 5, "batch": 16, "epochs": 2,
        "sharing": (1, 2),
        "yt8m": {"shards": 2, "records": 16, "batch": 8,
                 "options": {"audio_dim": 128, "hidden": 32, "clusters": 4}}}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_forward(name: str, size: int, frames: torch.Tensor, device: torch.device,
                 precision: str, batch_frames: int) -> float:
    """Frames/s of the forward pass alone (extract_maps) over frames already in memory."""
    backbone = place_backbone(build_backbone(name, weights="none", input_size=size), device)
    extract_maps(backbone, frames[:batch_frames], device, precision=precision)  # warm-up
    sync(device)
    start = time.perf_counter()
    extract_maps(backbone, frames, device, batch_frames=batch_frames, precision=precision)
    sync(device)
    return len(frames) / (time.perf_counter() - start)


def extraction(videos: list[Path], device: torch.device, config: dict) -> list[dict]:
    rows = []
    for name, size in config["backbones"].items():
        frames = torch.randint(0, 256, (4 * config["batch_frames"], size, size, 3),
                               dtype=torch.uint8)
        row = {"backbone": name, "size": size}
        row["bare fp32 fr/s"] = bare_forward(name, size, frames, device, "fp32",
                                             config["batch_frames"])
        # What auto picks for pretrained weights (random ones get bf16 on a GPU: see
        # core.precision); the weights here are random, the arithmetic is the same.
        auto = resolve_precision("auto", device)
        spec = ExtractionSpec.create(name, weights="none", input_size=size, precision=auto,
                                     device=str(device))
        row["precision"] = auto
        row["bare fr/s"] = bare_forward(name, size, frames, device, auto, config["batch_frames"])
        with tempfile.TemporaryDirectory() as cache:
            report = extract_features(videos, spec, FeatureCache(cache), device=str(device),
                                      batch_frames=config["batch_frames"])
        row["end-to-end fr/s"] = report.frames / report.seconds
        row["ratio"] = row["end-to-end fr/s"] / row["bare fr/s"]
        if device.type == "cuda":
            row["peak GB"] = torch.cuda.max_memory_allocated(device) / 1e9
            torch.cuda.reset_peak_memory_stats(device)
        rows.append(row)
        print(f"  {name:12s} {size:4d}px  bare fp32 {row['bare fp32 fr/s']:8.0f} fr/s  "
              f"bare {auto} {row['bare fr/s']:8.0f} fr/s  end to end "
              f"{row['end-to-end fr/s']:8.0f} fr/s  ratio {row['ratio']:.2f}", flush=True)
    return rows


def head_epochs(device_name: str, precision: str, config: dict) -> dict:
    """Seconds per epoch (after the first) and peak memory of train_head on random features."""
    device = torch.device(device_name)
    generator = torch.Generator().manual_seed(0)
    n, frames, dim = config["head_videos"], config["frames"], config["head_dim"]
    data = SequenceSet(torch.randn(n, frames, dim, generator=generator).half(),
                       torch.ones(n, frames, dtype=torch.bool),
                       torch.randint(0, config["classes"], (n,), generator=generator),
                       torch.full((n,), frames))
    torch.manual_seed(0)
    model = build_head("cnn-lstm-attention", in_dim=dim, num_classes=config["classes"],
                       frames=frames)
    settings = TrainSettings(PRESETS["abdn"], epochs=config["epochs"],
                             batch_size=config["batch"], lr=1e-3, seed=0, device=device,
                             precision=resolve_precision(precision, device), use_mask=False,
                             checkpoint_every=config["epochs"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as run_dir:
        outcome = train_head(model, data, data.subset(torch.arange(n // 4)), config["classes"],
                             settings, run_dir=Path(run_dir), checkpoint_extra={"config": "{}"})
    seconds = [r["seconds"] for r in outcome.history]
    return {"precision": settings.precision, "seconds/epoch": min(seconds[1:] or seconds),
            "peak GB": (torch.cuda.max_memory_allocated(device) / 1e9
                        if device.type == "cuda" else None)}


def _share(args: tuple[str, dict, int]) -> float:
    device_name, config, threads = args
    torch.set_num_threads(threads)
    return head_epochs(device_name, "auto", config)["seconds/epoch"]


def sharing(device: torch.device, config: dict) -> list[dict]:
    """Epochs per second in total when k processes train the head on the device at once."""
    rows = []
    context = multiprocessing.get_context("spawn")
    for k in config["sharing"]:
        threads = max(1, (os.cpu_count() or 2) // k)
        with context.Pool(k) as pool:
            seconds = pool.map(_share, [(str(device), config, threads)] * k)
        rows.append({"processes": k, "seconds/epoch each": max(seconds),
                     "epochs/s in total": k / max(seconds)})
        print(f"  {k} at once: {max(seconds):7.2f} s/epoch each, "
              f"{k / max(seconds):6.2f} epochs/s in total", flush=True)
    return rows


def data_parallel(device: torch.device, config: dict) -> list[dict]:
    """NeXtVLAD on streamed records in 1 process and in one per GPU (2 gloo processes on the
    CPU): seconds per epoch (evaluation included) and training records/s."""
    from bench_yt8m_stream import write_shards

    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
    from core.experiment import run_experiment

    sizes = config["yt8m"]
    counts = [1]
    if device.type != "cuda" or torch.cuda.device_count() >= 2:
        counts.append(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "yt8m")
        write_shards(root, sizes["shards"], sizes["records"])
        for path in write_shards(Path(tmp, "validate"), 1, max(8, sizes["records"] // 4)):
            path.rename(root / path.name.replace("train", "validate"))
        records = sizes["shards"] * sizes["records"]
        for processes in counts:
            result = run_experiment(
                ExperimentConfig(
                    data=DataConfig(str(root), layout="youtube8m", split="1", loading="stream"),
                    features=FeatureConfig("yt8m"),
                    head=HeadConfig("nextvlad", options=sizes["options"]),
                    train=TrainConfig("abdn", epochs=2, batch_size=sizes["batch"], lr=2e-4,
                                      device=str(device), processes=processes)),
                run_dir=Path(tmp, f"run{processes}"), cache_dir=Path(tmp, "cache"),
                num_workers=0 if device.type != "cuda" else None)
            seconds = min(r["seconds"] for r in result.history)
            rows.append({"processes": processes, "parameters": result.parameters,
                         "seconds/epoch": seconds, "records/s": records / seconds})
            print(f"  {processes} process{'es' if processes > 1 else ''}: {seconds:7.2f} "
                  f"s/epoch, {records / seconds:8.0f} records/s ({result.parameters:,} "
                  f"parameters)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (automatic on a CPU)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    config = TINY if args.tiny or device.type != "cuda" else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    tiny = " (tiny sizes: the figures check the script, not the machine)"
    print(f"{name}, torch {torch.__version__}, {os.cpu_count()} CPUs"
          f"{tiny if config is TINY else ''}")
    figures: dict = {"device": name, "torch": torch.__version__, "tiny": config is TINY}
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_dataset(Path(root), SyntheticSpec(
            videos_per_class=config["videos_per_class"], seed=0))
        videos = sorted(Path(root).rglob("*.mp4"))
        print(f"extraction of {len(videos)} synthetic videos at 1 fps:")
        figures["extraction"] = extraction(videos, device, config)
    print(f"a head's epoch ({config['head_videos']} videos × {config['frames']} frames × "
          f"{config['head_dim']}, batch {config['batch']}):")
    figures["head"] = []
    for precision in ("fp32", "auto"):
        row = head_epochs(str(device), precision, config)
        figures["head"].append(row)
        peak = f", peak {row['peak GB']:.2f} GB" if row["peak GB"] is not None else ""
        print(f"  {row['precision']}: {row['seconds/epoch']:.3f} s/epoch{peak}", flush=True)
    print("heads sharing the device:")
    figures["sharing"] = sharing(device, config)
    sizes = config["yt8m"]
    print(f"NeXtVLAD on {sizes['shards']} × {sizes['records']} streamed records, batch "
          f"{sizes['batch']}:")
    figures["data_parallel"] = data_parallel(device, config)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
