"""The Ray executor against the local one: a 15-job grid of tiny heads on cached features (five
heads × three seeds), two at a time on both (two local slots; a local Ray instance with two
CPUs; both given two slots, so jobs are handed over as earlier ones end), start to finish, and
each job's scheduling latency (from its hand-over to the executor to its worker's start, Python
and PyTorch start-up included in both).

Usage: ``python benchmarks/bench_ray.py [--dir bench-ray]``. Needs the ray extra.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from avc_tui.control import LaunchRequest, build_configs
from avc_tui.registry import Registry
from avc_tui.runner.devices import plan_slots
from avc_tui.runner.executor import LocalExecutor
from avc_tui.runner.ray_executor import RayExecutor
from avc_tui.runner.scheduler import run_all

HEADS = ("cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm", "soft-attention", "gla")


class Timed:
    """An executor that notes when each job was handed over."""

    def __init__(self, executor) -> None:
        self.executor, self.name, self.handed = executor, executor.name, {}

    def submit(self, job):
        self.handed[job.experiment_id] = datetime.now(UTC).replace(tzinfo=None)
        return self.executor.submit(job)


def grid(registry: Registry, data: Path, runs: Path) -> list[int]:
    ids = []
    for seed in range(3):
        for head in HEADS:
            [config] = build_configs(LaunchRequest(
                data, backbones=("tinycnn",), heads=(head,), weights="none", input_size=64,
                normalize="video", epochs=2, batch_size=8, seed=seed))
            ids.append(registry.create(config, runs_root=runs).id)
    return ids


def measure(name: str, executor, slots, registry: Registry, ids: list[int], cache: Path
            ) -> tuple[float, list[float]]:
    timed = Timed(executor)
    started = time.perf_counter()
    schedule = run_all(registry, ids, timed, slots, poll_seconds=0.1,
                       options=["--workers", "0", "--cache-dir", str(cache)])
    seconds = time.perf_counter() - started
    if any(code != 0 for code in schedule.exit_codes.values()):
        sys.exit(f"{name}: some jobs failed: {schedule.exit_codes}")
    latency = [(registry.attempts(i)[0].started_at - timed.handed[i]).total_seconds()
               for i in ids]
    return seconds, latency


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("bench-ray"))
    args = parser.parse_args(argv)
    data, cache = args.dir / "data", args.dir / "cache"
    if not data.is_dir():
        subprocess.run([sys.executable, "-m", "avc_tui", "data", "synth", str(data),
                        "--videos-per-class", "3", "--seed", "0"], check=True)
    subprocess.run([sys.executable, "-m", "avc_tui", "extract", str(data), "-b", "tinycnn",
                    "--weights", "none", "--input-size", "64", "--cache-dir", str(cache)],
                   check=True, capture_output=True)
    import ray

    figures = {}
    with Registry(str(args.dir / "bench.db")) as registry:
        local = measure("local", LocalExecutor(), plan_slots(["cpu"], 2), registry,
                        grid(registry, data, args.dir / "runs"), cache)
        figures["local"] = local
        began = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        startup = time.perf_counter() - began
        executor = RayExecutor(db_url=registry.url, gpus_per_job=0, cpus_per_job=1)
        ids = grid(registry, data, args.dir / "runs")
        # Two slots, as the local run: jobs are handed over as earlier ones end, so that the
        # latency is the executor's, not the wait for a free CPU.
        figures["ray"] = measure("ray", executor, executor.slots(2), registry, ids, cache)
        ray.shutdown()
    print(f"15 jobs (5 heads × 3 seeds, 2 epochs each), two at a time; Ray's start-up "
          f"{startup:.1f} s, not counted")
    print("| executor | start to finish | per-job latency, median | max |")
    print("|---|---|---|---|")
    for name, (seconds, latency) in figures.items():
        print(f"| {name} | {seconds:.1f} s | {statistics.median(latency):.2f} s | "
              f"{max(latency):.2f} s |")
    print(f"ratio ray / local: {figures['ray'][0] / figures['local'][0]:.2f}")


if __name__ == "__main__":
    main()
