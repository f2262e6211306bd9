"""Every registered model on one synthetic task: test accuracy, parameters and training time.

Usage: ``python benchmarks/bench_models.py [--videos-per-class 20] [--epochs 15]``

The task is the synthetic motion set's four easy classes (move_left, move_right, grow, shrink;
chance 25 %), the set the test suite learns on, written once into a temporary folder. Heads on
frozen features read tinycnn's random-weight conv maps at 64 px, 1 frame per second, each video
centred over time (``--normalize video``); the 3D CNN is trained from scratch on grey frames
(``pixels``, 4 fps, Ji et al.'s 7 frames); fine-tuned GLA trains tinycnn with it on RGB frames.
The ABDN protocol throughout (RMSprop 1e-3, last epoch, seeded 70/30 split), batch 8.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from core.config import (  # noqa: E402
    DataConfig,
    ExperimentConfig,
    FeatureConfig,
    HeadConfig,
    TrainConfig,
)
from core.data.synthetic import SyntheticSpec, write_synthetic_dataset  # noqa: E402
from core.experiment import run_experiment  # noqa: E402
from core.sampling import Sampling  # noqa: E402

FEATURES = FeatureConfig("tinycnn", weights="none", input_size=64,
                         sampling=Sampling("fps", fps=1.0))
SMALL = {"hidden": 128}
MODELS = [
    ("cnn-lstm", FEATURES, HeadConfig("cnn-lstm", normalize="video")),
    ("cnn-lstm-attention", FEATURES, HeadConfig("cnn-lstm-attention", normalize="video")),
    ("cnn-attention-lstm", FEATURES, HeadConfig("cnn-attention-lstm", normalize="video")),
    ("soft-attention", FEATURES, HeadConfig("soft-attention", normalize="video", options=SMALL)),
    ("soft-attention, 3-frame windows, vote", FEATURES,
     HeadConfig("soft-attention", normalize="video", options={**SMALL, "window": 3})),
    ("gla", FEATURES, HeadConfig("gla", normalize="video", options={**SMALL, "layers": 1})),
    ("gla, 3 TSN segments, 10 test samples", FEATURES,
     HeadConfig("gla", normalize="video", options={**SMALL, "layers": 1, "segments": 3})),
    ("nextvlad", FEATURES, HeadConfig("nextvlad", normalize="video",
                                      options={"hidden": 256, "clusters": 32})),
    ("3d-cnn (pixels, end to end)",
     FeatureConfig("pixels", input_size=64, sampling=Sampling("fps", fps=4.0)),
     HeadConfig("3d-cnn", options={"dropout": 0.5})),
    ("gla fine-tuning tinycnn (rgb, end to end)",
     FeatureConfig("rgb", input_size=64, sampling=Sampling("fps", fps=1.0)),
     HeadConfig("gla", normalize="video",
                options={**SMALL, "layers": 1, "cnn": "tinycnn", "cnn_weights": "none"})),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_synthetic_dataset(root, SyntheticSpec(
            videos_per_class=args.videos_per_class, seed=1, min_duration=3.0, max_duration=6.0,
            classes=("move_left", "move_right", "grow", "shrink")))
        print("| model | test top-1 | parameters | seconds |\n|---|---|---|---|", flush=True)
        for label, features, head in MODELS:
            config = ExperimentConfig(data=DataConfig(str(root)), features=features, head=head,
                                      train=TrainConfig("abdn", epochs=args.epochs,
                                                        batch_size=8))
            started = time.perf_counter()
            result = run_experiment(config, run_dir=Path(tmp) / label.replace(" ", "_"),
                                    cache_dir=Path(tmp) / "cache", num_workers=0)
            seconds = time.perf_counter() - started
            print(f"| {label} | {100 * result.test.top1:.1f} % | {result.parameters:,} | "
                  f"{seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
