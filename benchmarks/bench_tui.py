"""Benchmark of the TUI on a large registry: time to open, and responsiveness while runs stream.

Usage: ``python benchmarks/bench_tui.py [--seconds 20]``

A registry of 10,000 experiments (the newest 5,000 in 100 groups of 50) and 1,000,000 metric
points (as in bench_registry.py) plus 4
running experiments whose workers each record 200 steps/s (400 points/s, far more than a real
training run; bench_registry.py measures writers going flat out). The app runs headless
(``App.run_test``) at 120 × 40:

* open: from creating the app until the dashboard shows its rows; fold: from pressing g until
  the groups among them show as one row each;
* responsiveness while the 4 runs stream: the event loop's lag (how late a 50 ms timer fires)
  and key-to-screen latency (open an experiment, go back) over ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
try:
    import avc_tui  # noqa: F401
except ImportError:  # running from a checkout that is not pip-installed
    sys.path.insert(0, str(REPO_ROOT))

from bench_registry import _experiment, populate, record  # noqa: E402

from avc_tui.registry import Registry  # noqa: E402
from avc_tui.tui.app import AvcApp  # noqa: E402
from avc_tui.tui.screens.dashboard import DashboardScreen  # noqa: E402
from avc_tui.tui.screens.experiment import ExperimentScreen  # noqa: E402


async def measure(url: str, seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    started = time.perf_counter()
    app = AvcApp(url)
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, DashboardScreen) and app.screen.loaded):
            await pilot.pause(0.01)
        out["open (s)"] = time.perf_counter() - started
        table = app.screen.query_one("DataTable")
        out["rows shown"] = table.row_count
        t0 = time.perf_counter()
        await pilot.press("g")  # fold the groups among the loaded rows
        while table.row_count == out["rows shown"]:
            await pilot.pause(0.005)
        out["fold groups (s)"] = time.perf_counter() - t0
        out["rows shown folded"] = table.row_count
        await pilot.press("g")
        while table.row_count != out["rows shown"]:
            await pilot.pause(0.005)
        lags: list[float] = []
        expected = [time.perf_counter() + 0.05]

        def tick() -> None:
            now = time.perf_counter()
            lags.append(max(0.0, now - expected[0]))
            expected[0] = now + 0.05

        app.set_interval(0.05, tick)
        keys: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await pilot.press("enter")
            while not isinstance(app.screen, ExperimentScreen):
                await pilot.pause(0.005)
            await pilot.press("escape")
            while not isinstance(app.screen, DashboardScreen):
                await pilot.pause(0.005)
            keys.append(time.perf_counter() - t0)
            await pilot.pause(0.5)
        out["event-loop lag median (ms)"] = 1000 * statistics.median(lags)
        out["event-loop lag p99 (ms)"] = 1000 * sorted(lags)[int(0.99 * (len(lags) - 1))]
        out["open experiment + back, median (ms)"] = 1000 * statistics.median(keys)
        out["open experiment + back, max (ms)"] = 1000 * max(keys)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="steps/s per streaming run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'tui.db'}"
        populate(url, 10_000, 1_000_000, groups=100, group_size=50)
        with Registry(url) as registry:
            ids = [_experiment(registry) for _ in range(4)]
            for experiment_id in ids:
                registry.mark_running(experiment_id, device="cpu")
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        writers = [context.Process(target=record,
                                   args=(url, i, args.seconds + 30, results, args.rate))
                   for i in ids]
        for w in writers:
            w.start()
        time.sleep(2)  # the runs are streaming before the app opens
        try:
            figures = asyncio.run(measure(url, args.seconds))
        finally:
            for w in writers:
                w.terminate()
                w.join()
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
