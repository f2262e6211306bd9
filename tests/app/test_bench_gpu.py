"""benchmarks/bench_gpu.py, the script a GPU machine runs, kept working on the CPU (tiny sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_script_runs_its_steps_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--json",
                           str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["device"] == "CPU" and figures["tiny"]
    [extraction] = figures["extraction"]
    assert extraction["backbone"] == "tinycnn" and extraction["end-to-end fr/s"] > 0
    assert 0 < extraction["ratio"]
    assert [row["precision"] for row in figures["head"]][0] == "fp32"
    assert all(row["seconds/epoch"] > 0 for row in figures["head"])
    assert [row["processes"] for row in figures["sharing"]] == [1, 2]
    assert [row["processes"] for row in figures["data_parallel"]] == [1, 2]
    assert all(row["records/s"] > 0 for row in figures["data_parallel"])
    assert "tiny sizes" in done.stdout
