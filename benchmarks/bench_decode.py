"""Benchmark of 1-fps frame sampling: core.video.sample_frames against decoding every frame to RGB.

Usage: ``python benchmarks/bench_decode.py [--data DIR] [--repeat N]``

Runs over every clip under DIR (default: ``../shared/data/videos`` beside the repository), including
``edge_cases/`` but skipping ``corrupted.mp4``, and times one pass over all clips per method:

* ``sample_frames`` at 1 fps with backend ``auto``, ``decord`` and ``pyav``;
* the naive way: PyAV (default settings) decodes every frame, converts each one to an RGB ndarray,
  and the 1-fps frames are picked afterwards.

Each method runs one untimed warm-up pass and then ``--repeat`` timed passes; the table shows the
median pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "videos"

try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core.sampling import Sampling, sampled_indices  # noqa: E402
from core.video import available_backends, sample_frames  # noqa: E402

ONE_FPS = Sampling(mode="fps", fps=1.0)
SKIPPED = {"corrupted.mp4"}


@dataclass
class Result:
    """One method's timing over all clips."""

    method: str
    videos: int
    frames: int  # frames returned by one pass
    seconds: float  # median wall time of one pass

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def find_clips(data: Path) -> list[Path]:
    """Return every video file under ``data`` except the deliberately corrupted one.

    Raises SystemExit when the folder holds none.
    """
    clips = sorted(p for p in data.rglob("*") if p.is_file() and p.name not in SKIPPED and p.suffix)
    clips = [p for p in clips if p.suffix.lower() in {".mp4", ".avi", ".mkv", ".mov", ".webm"}]
    if not clips:
        raise SystemExit(f"no video clips found under {data}")
    return clips


def naive_one_fps(path: Path) -> np.ndarray:
    """Return the 1-fps frames of ``path`` the naive way: every frame decoded and converted to RGB."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    indices = sampled_indices(len(frames), fps, ONE_FPS)
    return np.stack([frames[i] for i in indices])


def time_method(name: str, clips: list[Path], run: Callable[[Path], np.ndarray], repeat: int) -> Result:
    """Return the median timing of ``repeat`` passes of ``run`` over ``clips`` (after one warm-up)."""
    frames = sum(len(run(path)) for path in clips)
    passes = []
    for _ in range(repeat):
        start = time.perf_counter()
        for path in clips:
            run(path)
        passes.append(time.perf_counter() - start)
    return Result(name, len(clips), frames, statistics.median(passes))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of video clips")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per method (median shown)")
    args = parser.parse_args(argv)
    clips = find_clips(args.data)

    methods: list[tuple[str, Callable[[Path], np.ndarray]]] = [
        ("naive: PyAV, every frame to RGB", naive_one_fps),
        ("sample_frames 1 fps, auto", lambda p: sample_frames(p, ONE_FPS).frames),
    ]
    for backend in available_backends():
        run = lambda p, b=backend: sample_frames(p, ONE_FPS, backend=b).frames  # noqa: E731
        methods.append((f"sample_frames 1 fps, {backend}", run))
    results = [time_method(name, clips, run, max(1, args.repeat)) for name, run in methods]

    naive = results[0]
    print(f"{len(clips)} clips under {args.data}, median of {max(1, args.repeat)} passes\n")
    header = f"{'method':34s} {'videos':>6s} {'frames':>7s} {'seconds':>8s} {'frames/s':>9s} {'vs naive':>9s}"
    print(header)
    print("-" * len(header))
    for r in results:
        speedup = naive.seconds / r.seconds
        print(
            f"{r.method:34s} {r.videos:6d} {r.frames:7d} {r.seconds:8.3f} "
            f"{r.frames_per_second:9.1f} {speedup:8.2f}x"
        )
    print()
    for r in results[1:]:
        print(f"{r.method}: {naive.seconds / r.seconds:.2f}x the speed of the naive way")


if __name__ == "__main__":
    main()
