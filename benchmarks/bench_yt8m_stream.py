"""Benchmark of the YouTube-8M stream: records/s per DataLoader worker, and peak memory against
the number of shards.

Usage: ``python benchmarks/bench_yt8m_stream.py [--shards N] [--records R] [--workers 0,1,2]``

Writes ``--shards`` frame-level shards of ``--records`` realistic records each (300 seconds:
300 × (1,024 + 128) random bytes, ~350 KB a record, as the real dataset's longest videos), then:

* streams one training epoch (shuffle buffer, batches of 80 padded to 300 frames in float16, the
  whole of :class:`core.data.yt8m_stream.StreamSet`) with each number of workers and prints
  records/s and MB/s of records, in all and per worker (0 workers: parsed in the main process);
* runs the stream in a fresh process over the shards and over 10× as many (copies), and prints
  each one's peak RSS: the stream holds its buffer and a batch, whatever the shard count.

Which protobuf parser reads the records (the C one when ``google.protobuf`` is installed, else
avc's pure-Python one; ``AVC_PROTOBUF=0`` forces the latter) is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import core  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from core.data.tfrecord import encode_sequence_example, write_records  # noqa: E402
from core.data.yt8m_stream import StreamSet, Yt8mStream  # noqa: E402

FRAMES = 300
BATCH = 80


def write_shards(folder: Path, shards: int, records: int, seed: int = 0) -> list[Path]:
    """``shards`` files of ``records`` 300-second records of random bytes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        def encoded(shard: int = shard):
            for index in range(records):
                rgb = rng.integers(0, 256, size=(FRAMES, 1024), dtype=np.uint8)
                audio = rng.integers(0, 256, size=(FRAMES, 128), dtype=np.uint8)
                yield encode_sequence_example(
                    {"id": [f"s{shard}r{index}".encode()],
                     "labels": sorted({int(c) for c in rng.integers(0, 3862, size=3)})},
                    {"rgb": [[row.tobytes()] for row in rgb],
                     "audio": [[row.tobytes()] for row in audio]})
        paths.append(write_records(folder / f"train{shard:04d}.tfrecord", encoded()))
    return paths


def parser_name() -> str:
    try:
        from core.data import yt8m_proto
    except ImportError:
        return "pure Python"
    fast = yt8m_proto.choose_parser() is yt8m_proto.parse_video_fast
    return "protobuf C (upb)" if fast else "avc's pure Python"


def stream_epoch(files: list[Path], workers: int) -> tuple[int, float]:
    stream = StreamSet(Yt8mStream(files, num_classes=3862, batch_size=BATCH, frames=FRAMES,
                                  shuffle="epoch", seed=0, buffer=64), workers=workers)
    began = time.perf_counter()
    videos = sum(len(batch) for batch in stream.batches(1))
    return videos, time.perf_counter() - began


_PEAK = """
import resource, sys
from pathlib import Path
from core.data.yt8m_stream import StreamSet, Yt8mStream
files = sorted(Path(sys.argv[1]).glob("train*.tfrecord"))
stream = StreamSet(Yt8mStream(files, num_classes=3862, batch_size=80, frames=300,
                              shuffle="epoch", buffer=64), workers=0)
videos = sum(len(batch) for batch in stream.batches(1))
print(videos, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(folder: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _PEAK, str(folder)], check=True, text=True,
                         capture_output=True, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    videos, kilobytes = map(int, out.stdout.split())
    return videos, kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--workers", default="0,1,2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avc-bench-yt8m-") as tmp:
        one = Path(tmp, "one")
        files = write_shards(one, args.shards, args.records)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        print(f"{args.shards} shards × {args.records} records, {megabytes:.0f} MB; parser: "
              f"{parser_name()}")
        print(f"{'workers':>8} {'records/s':>10} {'MB/s':>8} {'records/s/worker':>17} "
              f"{'MB/s/worker':>12}")
        stream_epoch(files, 0)  # warm the page cache
        for workers in (int(w) for w in args.workers.split(",")):
            videos, seconds = stream_epoch(files, workers)
            share = max(workers, 1)
            print(f"{workers:>8} {videos / seconds:>10.0f} {megabytes / seconds:>8.1f} "
                  f"{videos / seconds / share:>17.0f} {megabytes / seconds / share:>12.1f}")
        ten = Path(tmp, "ten")
        ten.mkdir()
        for copy in range(10):
            for path in files:
                shutil.copy(path, ten / f"train{copy:02d}{path.name[5:]}")
        print("peak RSS of one epoch (buffer 64, batch 80 × 300 frames):")
        for name, folder in (("1× shards", one), ("10× shards", ten)):
            videos, kilobytes = peak_rss(folder)
            print(f"  {name:>10}: {videos:>6} videos, {kilobytes / 1024:.0f} MB")


if __name__ == "__main__":
    main()
