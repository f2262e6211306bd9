"""Benchmark of YouTube-8M frame-level record parsing: the pure-Python parser against protobuf's C
parser (core.data.yt8m_proto), in 1 and 2 worker processes.

Usage: ``python benchmarks/bench_yt8m_parse.py [--records N] [--shards S] [--frames F]
[--workers 1,2] [--repeat R] [--dir DIR]``

Writes ``--records`` realistic records (``--frames`` seconds each: 1,024 rgb + 128 audio random
uint8 bytes per second, so the sizes are real, about 350 KB at 300 frames; a few labels) into
``--shards`` TFRecord files, then measures, per parser and per number of workers (each worker
takes its own shards, as a data loader's workers would):

* ``parse``: ``parse_video`` on records already in memory (the worker reads its shards first,
  untimed);
* ``read+parse``: read the shard files (from the page cache: they were just written), check both
  CRCs of every record and parse it (``iter_records`` then ``parse_video``);
* ``read``: only the reading and the CRCs, for scale.

The workers start each measurement together (a barrier); a measurement's time is the slowest
worker's, the median of ``--repeat`` passes. The table shows records/s and MB/s (of record data)
for all workers together and per worker.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
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

from core.data import yt8m_proto  # noqa: E402
from core.data.tfrecord import encode_sequence_example, iter_records, write_records  # noqa: E402
from core.data.youtube8m import AUDIO_DIM, NUM_CLASSES, RGB_DIM, parse_video  # noqa: E402

PARSERS = {"pure": parse_video, "protobuf": yt8m_proto.parse_video_fast}
MODES = ("read", "parse", "read+parse")


def write_shards(folder: Path, records: int, shards: int, frames: int, seed: int = 0) -> list[Path]:
    """``records`` frame-level records of ``frames`` random frames, dealt round robin to shards."""
    rng = np.random.default_rng(seed)
    per_shard: list[list[bytes]] = [[] for _ in range(shards)]
    for index in range(records):
        rgb = rng.integers(0, 256, size=(frames, RGB_DIM), dtype=np.uint8)
        audio = rng.integers(0, 256, size=(frames, AUDIO_DIM), dtype=np.uint8)
        count = int(rng.integers(1, 6))
        labels = sorted(int(c) for c in rng.choice(NUM_CLASSES, size=count, replace=False))
        per_shard[index % shards].append(encode_sequence_example(
            {"id": [f"v{index:06d}".encode()], "labels": labels},
            {"rgb": [[row.tobytes()] for row in rgb], "audio": [[row.tobytes()] for row in audio]},
        ))
    return [write_records(folder / f"train{i:04d}.tfrecord", shard)
            for i, shard in enumerate(per_shard)]


def worker(paths: list[Path], parsers: list[str], repeat: int, barrier, results) -> None:
    """Run every measurement on this worker's shards; put ``{(mode, parser): [seconds, …]}``."""
    in_memory = [record for path in paths for record in iter_records(path)]
    size = sum(len(record) for record in in_memory)
    for name in parsers:  # the same videos from both parsers, and a warm-up
        videos = [PARSERS[name](record) for record in in_memory[:4]]
        assert all(v.num_frames > 0 for v in videos)
    timings: dict[tuple[str, str], list[float]] = {}
    for mode in MODES:
        for name in parsers if mode != "read" else ["-"]:
            parse = PARSERS.get(name)
            for _ in range(repeat):
                barrier.wait()
                start = time.perf_counter()
                if mode == "read":
                    for path in paths:
                        for _record in iter_records(path):
                            pass
                elif mode == "parse":
                    for record in in_memory:
                        parse(record)
                else:
                    for path in paths:
                        for record in iter_records(path):
                            parse(record)
                timings.setdefault((mode, name), []).append(time.perf_counter() - start)
    results.put((len(in_memory), size, timings))


def measure(paths: list[Path], workers: int, parsers: list[str], repeat: int
            ) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """``{(mode, parser): (records/s, MB/s, records/s per worker, MB/s per worker)}``."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [context.Process(target=worker, args=(paths[i::workers], parsers, repeat, barrier,
                                                      results)) for i in range(workers)]
    for process in processes:
        process.start()
    outputs = [results.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a worker failed with exit code {process.exitcode}")
    records = sum(count for count, _, _ in outputs)
    size = sum(nbytes for _, nbytes, _ in outputs)
    table = {}
    for key in outputs[0][2]:
        # Each pass: the slowest worker's time; then the median pass.
        passes = [max(out[2][key][i] for out in outputs) for i in range(repeat)]
        seconds = statistics.median(passes)
        own = [statistics.median(out[2][key]) for out in outputs]
        per_worker_rate = statistics.mean(count / t for (count, _, _), t in zip(outputs, own))
        per_worker_mb = statistics.mean(nbytes / t / 1e6 for (_, nbytes, _), t in zip(outputs, own))
        table[key] = (records / seconds, size / seconds / 1e6, per_worker_rate, per_worker_mb)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=240, help="records to write (all shards)")
    parser.add_argument("--shards", type=int, default=4, help="TFRecord files to write them into")
    parser.add_argument("--frames", type=int, default=300, help="frames (seconds) per record")
    parser.add_argument("--workers", default="1,2", help="worker counts to try, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (median)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the shards (default: a temporary folder)")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.workers.split(",") if part.strip()]
    if args.shards < max(counts):
        parser.error(f"--shards must be at least the largest worker count ({max(counts)})")
    parsers = ["pure"] + (["protobuf"] if yt8m_proto.available() else [])
    if not yt8m_proto.available():
        print("google.protobuf is not installed: only the pure parser is measured")
    else:
        import google.protobuf

        print(f"protobuf {google.protobuf.__version__} ({yt8m_proto.implementation()} backend)")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start = time.perf_counter()
        paths = write_shards(Path(tmp), args.records, args.shards, args.frames)
        size = sum(p.stat().st_size for p in paths)
        print(f"wrote {args.records} records of {args.frames} frames in {args.shards} shards, "
              f"{size / 1e6:.1f} MB ({size / args.records / 1e3:.0f} KB a record) in "
              f"{time.perf_counter() - start:.1f} s; median of {args.repeat} passes\n")
        header = (f"{'mode':11s} {'parser':9s} {'workers':>7s} {'records/s':>10s} {'MB/s':>8s} "
                  f"{'rec/s/worker':>13s} {'MB/s/worker':>12s}")
        print(header)
        print("-" * len(header))
        for workers in counts:
            table = measure(paths, workers, parsers, args.repeat)
            for (mode, name), (rate, mb, rate_one, mb_one) in table.items():
                print(f"{mode:11s} {name:9s} {workers:7d} {rate:10.0f} {mb:8.0f} {rate_one:13.0f} "
                      f"{mb_one:12.0f}")


if __name__ == "__main__":
    main()
