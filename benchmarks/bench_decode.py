"""Benchmark of 1-fps frame sampling: core.video.sample_frames against a fair baseline.

Usage: ``python benchmarks/bench_decode.py [--data DIR] [--repeat N] [--long-seconds S]``

Runs over every clip under DIR (default: ``../shared/data/videos`` beside the repository),
including ``edge_cases/`` but skipping ``corrupted.mp4``, and over one synthetic long video with
short GOPs (``--long-seconds`` at 25 fps, a keyframe every second, B-frames; 0 to leave it out).
Each method runs one untimed warm-up pass and then ``--repeat`` timed passes; the tables show the
median pass's wall time and CPU time (all threads of the process: decord decodes on threads of
its own):

* the fair baseline: PyAV decodes every frame up to the last sampled one and converts only the
  sampled frames to RGB (what any sequential decoder must do);
* ``sample_frames`` at 1 fps with backend ``auto``, ``decord``, ``torchcodec`` where it can be
  loaded (the files it decodes exactly; PyAV the others), ``pyav`` (keyframe seeks and
  skipped non-reference frames where timestamps are trusted), and ``pyav`` forced sequential.

Then the frames decoded: sequentially (every frame up to the last sampled one), the seeking
limit (from each sampled frame's keyframe to it, in decoding order, counted from the packets;
what a decoder that seeks but decodes every frame in between needs) and what avc's PyAV path
decoded (it also skips the non-reference frames, so it can go below that limit).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "videos"

try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core import video  # noqa: E402
from core.sampling import Sampling, sampled_indices  # noqa: E402
from core.video import available_backends, sample_frames, torchcodec_problem  # noqa: E402

ONE_FPS = Sampling(mode="fps", fps=1.0)
SKIPPED = {"corrupted.mp4"}


@dataclass
class Result:
    """One method's timing over all clips."""

    method: str
    videos: int
    frames: int  # frames returned by one pass
    seconds: float  # median wall time of one pass
    cpu: float  # median CPU time of one pass


def find_clips(data: Path) -> list[Path]:
    """Return every video file under ``data`` except the deliberately corrupted one.

    Raises SystemExit when the folder holds none.
    """
    clips = sorted(p for p in data.rglob("*") if p.is_file() and p.name not in SKIPPED and p.suffix)
    clips = [p for p in clips if p.suffix.lower() in {".mp4", ".avi", ".mkv", ".mov", ".webm"}]
    if not clips:
        raise SystemExit(f"no video clips found under {data}")
    return clips


def write_long_video(path: Path, seconds: int) -> Path:
    """``seconds`` of 25-fps H.264 (96 × 72) with a keyframe every second and two B-frames."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={
            "x264-params": "keyint=25:min-keyint=25:scenecut=0:bframes=2"})
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
        for i in range(25 * seconds):
            image = np.roll(base, i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def fair_baseline(path: Path) -> np.ndarray:
    """The 1-fps frames decoded sequentially up to the last one, only those converted to RGB."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        fps = video._pyav_fps(stream)
        total = sum(1 for p in container.demux(stream) if p.size > 0)
    wanted = sampled_indices(total, fps, ONE_FPS)
    keep = set(wanted.tolist())
    kept = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for i, frame in enumerate(container.decode(stream)):
            if i in keep:
                kept.append(frame.to_ndarray(format="rgb24"))
            if i >= wanted[-1]:
                break
    return np.stack(kept)


@contextmanager
def sequential_pyav():
    """PyAV's path without seeking: decoding from the first frame, as for AVIs."""
    real = video._seekable
    video._seekable = lambda *args: False
    try:
        yield
    finally:
        video._seekable = real


def pyav_sequential(path: Path) -> np.ndarray:
    with sequential_pyav():
        return sample_frames(path, ONE_FPS, backend="pyav").frames


def time_method(name: str, clips: list[Path], run: Callable[[Path], np.ndarray], repeat: int
                ) -> Result:
    """The median timing of ``repeat`` passes of ``run`` over ``clips`` (after one warm-up)."""
    frames = sum(len(run(path)) for path in clips)
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for path in clips:
            run(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Result(name, len(clips), frames, statistics.median(walls), statistics.median(cpus))


def decoded_counts(path: Path) -> tuple[int, int, int, int]:
    """(sampled frames, frames a sequential decoder decodes, the seeking limit, frames avc's
    PyAV path decoded) for one clip."""
    import av

    packets = video._pyav_packets(av, path)
    clip = sample_frames(path, ONE_FPS, backend="pyav")
    wanted = clip.indices
    sequential = int(wanted[-1]) + 1
    if not clip.info.decoded or clip.info.decoded >= sequential:  # decoded from the start
        return len(wanted), sequential, sequential, clip.info.decoded
    order = sorted(packets.pts)
    position = {pts: i for i, pts in enumerate(packets.pts)}
    keyframes = [i for i, key in enumerate(packets.keyframe) if key]
    needed: set[int] = set()
    for index in wanted:
        target = order[int(index)]
        at = position[target]
        start = max(k for k in keyframes if k <= at and packets.pts[k] <= target)
        needed.update(range(start, at + 1))
    return len(wanted), sequential, len(needed), clip.info.decoded


def report(title: str, clips: list[Path], repeat: int) -> None:
    methods: list[tuple[str, Callable[[Path], np.ndarray]]] = [
        ("fair baseline (PyAV, sequential)", fair_baseline),
        ("sample_frames, auto", lambda p: sample_frames(p, ONE_FPS).frames),
    ]
    usable = [*available_backends(), *([] if torchcodec_problem() else ["torchcodec"])]
    for backend in usable:  # torchcodec: where exact (PyAV reads the other files)
        run = lambda p, b=backend: sample_frames(p, ONE_FPS, backend=b).frames  # noqa: E731
        methods.append((f"sample_frames, {backend}", run))
    methods.append(("sample_frames, pyav sequential", pyav_sequential))
    results = [time_method(name, clips, run, max(1, repeat)) for name, run in methods]
    base = results[0]
    print(f"{title}: {len(clips)} clips, median of {max(1, repeat)} passes\n")
    header = (f"{'method':34s} {'frames':>6s} {'wall s':>7s} {'CPU s':>7s} {'frames/s':>8s} "
              f"{'CPU vs fair':>11s}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.method:34s} {r.frames:6d} {r.seconds:7.3f} {r.cpu:7.3f} "
              f"{r.frames / r.seconds:8.1f} {base.cpu / r.cpu:10.2f}x")
    totals = np.sum([decoded_counts(p) for p in clips], axis=0)
    sampled, sequential, limit, decoded = (int(t) for t in totals)
    print(f"\nframes decoded per sampled frame: sequential {sequential / sampled:.1f}, seeking "
          f"limit {limit / sampled:.1f}, avc's PyAV path {decoded / sampled:.1f} "
          f"({sampled} sampled)\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of video clips")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per method (median)")
    parser.add_argument("--long-seconds", type=int, default=120,
                        help="length of the synthetic short-GOP video (0: none)")
    args = parser.parse_args(argv)
    report(f"real clips under {args.data}", find_clips(args.data), args.repeat)
    if args.long_seconds:
        with tempfile.TemporaryDirectory() as folder:
            path = write_long_video(Path(folder) / "long.mp4", args.long_seconds)
            report(f"a {args.long_seconds}-s synthetic video, 1-s GOPs", [path], args.repeat)


if __name__ == "__main__":
    main()
