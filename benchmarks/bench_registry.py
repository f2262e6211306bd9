"""Benchmark of the registry: write throughput, read latency at scale, concurrent writers.

Usage: ``python benchmarks/bench_registry.py [--db-dir DIR] [--seconds 60] [--skip-scale]``

1. write: one worker's :class:`RegistryRecorder` fed training-step events as fast as they come
   (two points per step, flushed about once a second) for ``--write-seconds``; points/s committed.
2. scale: a registry of 10,000 experiments (100 groups of 50 among them, seed trials of each
   cell) and 1,000,000 metric points; wall time of the real ``avc ls``, ``avc ls --groups``,
   ``avc compare`` and ``avc compare --group`` commands (new processes, as a user runs them) and
   of the "points newer than X" query for one experiment.
3. concurrency: 4 worker processes recording for ``--seconds`` while a reader polls every
   experiment's new points; counts lock errors and checks that every point written was read.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    import avc_tui  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from avc_tui.registry import Registry, now  # noqa: E402
from avc_tui.registry.models import Experiment, Group, MetricPoint  # noqa: E402
from avc_tui.runner.recorder import RegistryRecorder  # noqa: E402
from core.events import StepFinished  # noqa: E402

BACKBONES = ("vgg16", "vgg19", "inceptionv3", "resnet50", "xception")
HEADS = ("cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm")


def _experiment(registry: Registry) -> int:
    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig

    config = ExperimentConfig(data=DataConfig("/data/bench"),
                              features=FeatureConfig("tinycnn", weights="none"),
                              head=HeadConfig("cnn-lstm"))
    return registry.create(config, run_dir="/runs/bench").id


def record(url: str, experiment_id: int, seconds: float, result, steps_per_second: float = 0
           ) -> None:
    """Feed step events into a recorder for ``seconds`` (as fast as possible, or at
    ``steps_per_second``); put (points written, lock errors) in ``result``."""
    errors = 0
    with Registry(url) as registry:
        recorder = RegistryRecorder(registry, experiment_id)
        step = 0
        deadline = time.monotonic() + seconds
        with recorder:
            while time.monotonic() < deadline:
                step += 1
                if steps_per_second:
                    time.sleep(1.0 / steps_per_second)
                try:
                    recorder(StepFinished(1 + step // 1000, step % 1000, step, 1000, 0.5, 0.5, 16))
                except OperationalError:
                    errors += 1
        result.put((recorder.written, errors))


def bench_write(url: str, seconds: float) -> float:
    with Registry(url) as registry:
        experiment_id = _experiment(registry)
    queue = multiprocessing.Queue()
    start = time.perf_counter()
    record(url, experiment_id, seconds, queue)
    written, _ = queue.get()
    return written / (time.perf_counter() - start)


def _config(backbone: str, head: str, seed: int) -> dict:
    """A whole stored config, as avc writes it (what `avc compare` reads to find trials)."""
    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig

    return ExperimentConfig(data=DataConfig("/data/bench"),
                            features=FeatureConfig(backbone, weights="none"),
                            head=HeadConfig(head), train=TrainConfig("abdn", seed=seed)).to_dict()


def populate(url: str, experiments: int, points: int, *, groups: int = 0,
             group_size: int = 0) -> list[int]:
    """Fill a registry quickly with bulk inserts; returns the experiment ids. The newest
    ``groups`` × ``group_size`` experiments are in groups: each a 5 × 3 grid with seed trials."""
    rng = random.Random(0)
    configs = {(b, h, k): _config(b, h, k) for b in BACKBONES for h in HEADS for k in range(10)}
    with Registry(url) as registry:
        stamp = now()
        if groups:
            with registry.session() as s, s.begin():
                s.execute(insert(Group), [{"id": g + 1, "name": f"grid {g + 1}", "kind": "grid",
                                           "axes": {"backbone": list(BACKBONES),
                                                    "head": list(HEADS)},
                                           "created_at": stamp} for g in range(groups)])
        rows = []
        for i in range(experiments):
            backbone, head = BACKBONES[i % 5], HEADS[(i // 5) % 3]
            first_grouped = experiments - groups * group_size
            group = ((i - first_grouped) // group_size + 1
                     if group_size and i >= first_grouped else None)
            rows.append({
                "name": f"{backbone}/{head}", "status": "finished" if i % 10 else "failed",
                "config": configs[(backbone, head, (i // 15) % 10)], "group_id": group,
                "axes": {"seed": (i // 15) % 10} if group else None,
                "config_hash": f"{i:064x}", "dataset": f"d{i % 4}",
                "split": "abdn", "backbone": backbone, "head": head, "preset": "abdn",
                "seed": i, "tags": ["bench"], "run_dir": f"/runs/{i}",
                "created_at": stamp - timedelta(seconds=experiments - i), "versions": {},
                "epoch": 60, "epochs": 60, "test_top1": rng.random(), "test_top5": 1.0,
                "cancel_requested": False,
                "result": {"test": {"top1": 0.5, "per_class": [0.5] * 101}},
            })
        with registry.session() as s, s.begin():
            s.execute(insert(Experiment), rows)
        per = points // experiments
        batch = []
        with registry.session() as s, s.begin():
            for experiment_id in range(1, experiments + 1):
                for k in range(per):
                    batch.append({"experiment_id": experiment_id, "step": k, "epoch": k // 10,
                                  "split": "train", "key": "loss", "value": 1.0 / (k + 1),
                                  "time": stamp})
                if len(batch) >= 50_000:
                    s.execute(insert(MetricPoint), batch)
                    batch = []
            if batch:
                s.execute(insert(MetricPoint), batch)
    return list(range(1, experiments + 1))


def wall(command: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_scale(url: str, db_path: Path) -> dict[str, float]:
    started = time.perf_counter()
    populate(url, 10_000, 1_000_000, groups=100, group_size=50)
    filled = time.perf_counter() - started
    avc = [sys.executable, "-m", "avc_tui"]
    out = {"fill_seconds": filled}
    out["avc ls"] = wall([*avc, "ls", "--db", str(db_path)])
    out["avc ls --status finished --backbone vgg16"] = wall(
        [*avc, "ls", "--db", str(db_path), "--status", "finished", "--backbone", "vgg16"])
    out["avc ls --groups"] = wall([*avc, "ls", "--groups", "--db", str(db_path)])
    out["avc compare (mean ± sd over trials)"] = wall([*avc, "compare", "--db", str(db_path)])
    out["avc compare --group 37"] = wall([*avc, "compare", "--group", "37", "--db",
                                          str(db_path)])
    out["python startup + import avc_tui.cli"] = wall([sys.executable, "-c", "import avc_tui.cli"])
    with Registry(url) as registry:
        polls = []
        for experiment_id in random.Random(1).sample(range(1, 10_001), 50):
            last = registry.points(experiment_id)[-10].id  # "newer than X": the last 10 points
            start = time.perf_counter()
            newer = registry.points(experiment_id, after_id=last)
            polls.append(time.perf_counter() - start)
            assert len(newer) == 9
        out["points newer than X (median ms)"] = 1000 * statistics.median(polls)
        out["points newer than X (max ms)"] = 1000 * max(polls)
    return out


def bench_concurrency(url: str, seconds: float) -> dict[str, int]:
    with Registry(url) as registry:
        ids = [_experiment(registry) for _ in range(4)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=record, args=(url, i, seconds, results)) for i in ids]
    for w in workers:
        w.start()
    read = {i: 0 for i in ids}
    last = {i: 0 for i in ids}
    reader_errors = polls = 0
    with Registry(url) as reader:
        def poll() -> None:
            nonlocal reader_errors
            for i in ids:
                try:
                    new = reader.points(i, after_id=last[i])
                except OperationalError:
                    reader_errors += 1
                    continue
                if new:
                    last[i] = new[-1].id
                    read[i] += len(new)

        while any(w.is_alive() for w in workers):
            poll()
            polls += 1
            time.sleep(0.2)
        for w in workers:
            w.join()
        poll()
    outcomes = [results.get() for _ in workers]
    written = sum(w for w, _ in outcomes)
    return {"written": written, "read": sum(read.values()), "lost": written - sum(read.values()),
            "writer lock errors": sum(e for _, e in outcomes), "reader lock errors": reader_errors,
            "reader polls": polls}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=60.0, help="concurrency test length")
    parser.add_argument("--write-seconds", type=float, default=10.0)
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        folder = Path(folder)
        rate = bench_write(f"sqlite:///{folder / 'write.db'}", args.write_seconds)
        print(f"write: {rate:,.0f} metric points/s sustained through one recorder "
              f"(target ≥ 10,000)", flush=True)
        if not args.skip_scale:
            scale = bench_scale(f"sqlite:///{folder / 'scale.db'}", folder / "scale.db")
            print("scale (10,000 experiments, 1,000,000 points):")
            for key, value in scale.items():
                unit = "" if "ms" in key else " s"
                print(f"  {key}: {value:.3f}{unit}", flush=True)
        result = bench_concurrency(f"sqlite:///{folder / 'concurrent.db'}", args.seconds)
        print(f"concurrency (4 writers + 1 reader, {args.seconds:.0f} s): "
              f"{json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
