"""The ABDN 5 × 3 grid with repeated trials on the demo's synthetic set, through the registry:
wall time, the comparison as mean ± sd, and whether each attention mode's gap to cnn-lstm is
larger than the spread of the trials.

Usage: ``python benchmarks/bench_trials.py [--dir avc-demo] [--trials 3]``

The demo's settings (random weights, video normalisation, 25 epochs, batch 16), with 75-pixel
frames: one size for every backbone, the smallest InceptionV3 takes (the demo gives it 75 and
the others 64). When `avc demo` ran in ``--dir``, its dataset is used again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODES = ("cnn-lstm-attention", "cnn-attention-lstm")


def avc(*args: str, runs: Path | None = None) -> str:
    env = {**os.environ, "AVC_RUNS_DIR": str(runs)} if runs else None
    done = subprocess.run([sys.executable, "-m", "avc_tui", *args], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"avc {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("avc-demo"))
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    data, db = args.dir / "synthetic", args.dir / "trials.db"
    if not data.is_dir():
        avc("data", "synth", str(data), "--videos-per-class", "15", "--seed", "0")
    started = time.perf_counter()
    avc("grid", str(data), "--weights", "none", "--input-size", "75", "--normalize", "video",
        "--epochs", "25", "--batch-size", "16", "--trials", str(args.trials), "--yes",
        "--db", str(db), "--cache-dir", str(args.dir / "cache"), "--group-name",
        f"ABDN grid, {args.trials} trials", runs=args.dir / "trial-runs")
    seconds = time.perf_counter() - started
    groups = json.loads(avc("ls", "--groups", "--json", "--db", str(db)))
    group = str(groups[0]["id"])
    print(f"{groups[0]['total']} runs in {seconds:.0f} s ({seconds / groups[0]['total']:.1f} s "
          f"a run) on this machine")
    print(avc("compare", "--group", group, "--db", str(db), "--format", "markdown"))
    cells = json.loads(avc("compare", "--group", group, "--db", str(db), "--format", "json"))
    for backbone, row in cells.items():
        base, base_sd = row.get("cnn-lstm"), row.get("cnn-lstm (sd)")
        if base is None:
            continue
        for mode in MODES:
            mean, sd = row.get(mode), row.get(f"{mode} (sd)")
            if mean is None:
                continue
            gap, spread = mean - base, max(sd or 0.0, base_sd or 0.0)
            verdict = "larger than" if abs(gap) > spread else "within"
            print(f"{backbone:>12} {mode:<20} gap to cnn-lstm {gap:+5.1f} points, "
                  f"{verdict} the spread (sd up to {spread:.1f})")


if __name__ == "__main__":
    main()
