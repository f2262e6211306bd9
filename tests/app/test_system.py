"""System metrics of a run: this process and its children sampled for real, a GPU through a
stand-in NVML module, the figures a real run records, and how `avc show` and the TUI show them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app
from avc_tui.registry import Registry
from avc_tui.runner import system
from avc_tui.runner.system import SystemSampler, device_for, summarize


def test_the_cpu_and_memory_of_the_process_and_its_children() -> None:
    sampler = SystemSampler()
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        first = sampler.sample()  # meets the child: starts its clock
        time.sleep(1.0)
        values = sampler.sample()
    finally:
        child.kill()
        child.wait()
    assert set(first) == set(values) == {system.CPU, system.RSS}
    assert values[system.CPU] > 20, "the busy child's CPU counts"
    assert values[system.RSS] > 50, "this process and its child, in MB"


class _Nvml(types.ModuleType):
    """A stand-in for nvidia-ml-py's pynvml: one GPU at index 1 or UUID GPU-abc."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, fail: bool = False) -> None:
        super().__init__("pynvml")
        self.fail, self.asked = fail, []

    def nvmlInit(self) -> None:
        if self.fail:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        self.asked.append(index)
        return "handle"

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        self.asked.append(uuid)
        return "handle"

    def nvmlDeviceGetUtilizationRates(self, handle):
        return types.SimpleNamespace(gpu=54, memory=20)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return types.SimpleNamespace(used=3 * 2 ** 30, total=80 * 2 ** 30)

    def nvmlDeviceGetTemperature(self, handle, sensor: int) -> int:
        return 61


def test_a_gpu_is_read_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = _Nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    values = SystemSampler("1").sample()
    assert nvml.asked == [1]
    assert (values[system.GPU_UTIL], values[system.GPU_MEMORY],
            values[system.GPU_TEMPERATURE]) == (54.0, 3072.0, 61.0)
    SystemSampler("GPU-abc")
    assert nvml.asked[-1] == "GPU-abc"


def test_without_nvml_there_are_no_gpu_figures_and_no_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _Nvml(fail=True))
    assert set(SystemSampler("0").sample()) == {system.CPU, system.RSS}
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert set(SystemSampler("0").sample()) == {system.CPU, system.RSS}


def test_the_gpu_a_worker_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device_for("cuda:2") == "2" and device_for("cuda") == "0"
    assert device_for("cpu") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # a slot's or Ray's: cuda:1 is GPU 5
    assert device_for("cuda:1") == "5" and device_for("cuda:0") == "3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device_for("cuda:0") is None


def test_summaries_are_peak_and_mean() -> None:
    points = [types.SimpleNamespace(split="system", key=system.CPU, value=v) for v in (50, 150)]
    points.append(types.SimpleNamespace(split="val", key="acc", value=0.9))
    assert summarize(points) == {system.CPU: {"peak": 150, "mean": 100, "samples": 2}}


def test_a_real_run_records_its_figures(small_dataset: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    result = CliRunner().invoke(app, [
        "run", str(small_dataset), "-b", "tinycnn", "--weights", "none", "--input-size", "48",
        "--epochs", "2", "--workers", "0", "--cache-dir", str(tmp_path / "cache"), "--db", db],
        env={"AVC_RUNS_DIR": str(tmp_path / "runs")})
    assert result.exit_code == 0, result.output
    shown = json.loads(CliRunner().invoke(app, ["show", "1", "--json", "--db", db]).stdout)
    figures = shown["system"]
    assert set(figures) == {system.CPU, system.RSS}, "no GPU here: no GPU figures"
    assert figures[system.RSS]["peak"] > 100  # PyTorch alone takes more
    text = CliRunner().invoke(app, ["show", "1", "--db", db]).stdout
    assert "System" in text and "memory MB" in text and "CPU %" in text
    with Registry(db) as registry:
        steps = [p.step for p in registry.points(1, keys=[system.RSS])]
    assert steps == sorted(steps), "seconds since the run started"


def test_the_dashboard_shows_a_running_run_s_use(tmp_path: Path, easy_config,
                                                 small_dataset: Path) -> None:
    from avc_tui.registry import Point, now
    from avc_tui.tui.data import load_snapshot

    with Registry(str(tmp_path / "r.db")) as registry:
        running = registry.create(easy_config(small_dataset), runs_root=tmp_path / "runs")
        done = registry.create(easy_config(small_dataset), runs_root=tmp_path / "runs")
        registry.mark_running(running.id, device="cpu")
        for row in (running, done):
            registry.add_points(row.id, [
                Point(5, 1, "system", system.CPU, 180.4, now()),
                Point(5, 1, "system", system.RSS, 1536.0, now()),
                Point(10, 1, "system", system.CPU, 95.0, now())])
        rows = {r.id: r for r in load_snapshot(registry).rows}
    assert rows[running.id].use_text == "CPU 95% 1.5 GB"
    assert rows[done.id].use_text == "", "only running runs"


def test_a_resumed_run_counts_on_from_its_first_start(tmp_path: Path, easy_config,
                                                      small_dataset: Path) -> None:
    from avc_tui.registry import Point, now
    from avc_tui.runner.recorder import RegistryRecorder

    class Fixed:
        def sample(self) -> dict[str, float]:
            return {system.CPU: 50.0, system.RSS: 100.0}

    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(small_dataset), runs_root=tmp_path / "runs")
        registry.add_points(row.id, [Point(12, 3, "system", system.CPU, 80.0, now()),
                                     Point(12, 3, "val", "acc", 0.5, now())])
        assert registry.drop_points_after(row.id, 1) == 1, "a resume drops the epoch's metrics"
        recorder = RegistryRecorder(registry, row.id, sampler=Fixed(), sample_seconds=60)
        recorder.since(100.0)
        with recorder:
            pass  # the last sample, at the end
        steps = [p.step for p in registry.points(row.id, keys=[system.CPU])]
    assert steps[0] == 12, "the first attempt's figures stay"
    assert steps[1] >= 100, "the second attempt's go on from the first start"
