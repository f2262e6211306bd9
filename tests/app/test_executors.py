"""Choosing an executor without Ray at hand: the options' checks, the refusal of a SQLite registry
on a cluster of several hosts, Ray missing, a worker that cannot see its run folder, attempts in
`avc show` and `avc ls --json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui import logs
from avc_tui.cli import app
from avc_tui.control import Execution
from avc_tui.registry import Placement, Registry
from avc_tui.runner import worker
from avc_tui.runner.ray_executor import check_shared_registry
from core.errors import ConfigError


def _node(address: str, alive: bool = True) -> dict:
    return {"NodeManagerAddress": address, "Alive": alive}


def test_sqlite_is_refused_on_a_cluster_of_several_hosts() -> None:
    two_hosts = [_node("10.0.0.1"), _node("10.0.0.2")]
    with pytest.raises(ConfigError, match="spans 2 hosts") as raised:
        check_shared_registry(two_hosts, "sqlite:///x/experiments.db")
    assert "postgresql" in raised.value.hint
    check_shared_registry(two_hosts, "postgresql+psycopg://avc@db/avc")
    one_host = [_node("10.0.0.1"), _node("10.0.0.1"), _node("10.0.0.2", alive=False)]
    check_shared_registry(one_host, "sqlite:///x/experiments.db")  # nodes of one host share it


@pytest.mark.parametrize(("values", "fragment"), [
    ({"executor": "slurm"}, "unknown executor"),
    ({"gpus_per_job": -1}, "is not a share"),
    ({"gpus_per_job": 1.5}, "is not a share"),
    ({"gpus_per_job": 2.5}, "is not a share"),
    ({"gpus_per_job": float("inf")}, "is not a share"),
    ({"gpus_per_job": float("nan")}, "is not a share"),
    ({"gpus_per_job": 1e-9}, "is not a share"),
    ({"executor": "ray", "cpus_per_job": 0}, "must be above 0"),
    ({"executor": "ray", "cpus_per_job": float("nan")}, "must be above 0"),
    ({"cpus_per_job": 2}, "reserves a Ray node's CPUs"),
    ({"retries": -2}, "must be 0 or more"),
    ({"address": "auto"}, "names a Ray cluster"),
])
def test_an_execution_out_of_range_is_refused(values: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Execution(**values)


def test_an_execution_travels_to_the_batch_runner_unchanged() -> None:
    import argparse

    execution = Execution("ray", "auto", 0.25, 2, 3)
    parser = argparse.ArgumentParser()
    Execution.add_arguments(parser)
    assert Execution.from_arguments(parser.parse_args(execution.args())) == execution
    assert Execution.from_arguments(parser.parse_args(Execution().args())) == Execution()


def test_without_ray_the_ray_executor_is_one_error_and_nothing_registered(
        monkeypatch: pytest.MonkeyPatch, easy_dataset: Path, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    db = tmp_path / "r.db"
    for command in (["grid", str(easy_dataset), "--backbones", "tinycnn", "--heads", "cnn-lstm"],
                    ["grid", str(easy_dataset), "--backbones", "tinycnn", "--heads", "cnn-lstm",
                     "--detach"],
                    ["run", str(easy_dataset), "-b", "tinycnn", "--detach"]):
        result = CliRunner().invoke(app, [*command, "--weights", "none", "--input-size", "64",
                                          "--executor", "ray", "--db", str(db)])
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert lines[0] == "error: --executor ray needs Ray, which is not installed"
        assert lines[1].startswith("hint: install Ray with: pip install -e '.[ray]'")
    with Registry(str(db)) as registry:
        assert registry.count() == 0


def test_a_worker_that_cannot_see_its_run_folder_fails_clearly(easy_dataset: Path, easy_config,
                                                               tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(easy_dataset), run_dir=tmp_path / "elsewhere" / "run")
        try:
            assert worker.main([str(row.id), "--db", registry.url]) == 1
        finally:
            logs.reset()  # the worker sent log lines to this process's stdout
        failed = registry.get(row.id)
        assert failed.status == "failed"
        message, hint = failed.error.splitlines()
        assert "is not on this node" in message and str(tmp_path / "elsewhere") in message
        assert hint == f"hint: {worker.SHARED_STORAGE_HINT}"


def test_attempts_show_in_show_and_ls(easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    with Registry(db) as registry:
        row = registry.create(easy_config(easy_dataset), runs_root=tmp_path / "runs")
        assert registry.mark_running(row.id, device="cpu",
                                     placement=Placement("ray", "ab" * 28, "1"))
        registry.finish(row.id, "lost", error="NodeDiedError: the node died.")
        assert registry.requeue(row.id)
        assert registry.mark_running(row.id, device="cpu",
                                     placement=Placement("ray", "cd" * 28, "2"))
    listed = json.loads(CliRunner().invoke(app, ["ls", "--json", "--db", db]).stdout)
    assert (listed[0]["attempt"], listed[0]["node_id"]) == (2, "cd" * 28)
    shown = CliRunner().invoke(app, ["show", str(row.id), "--json", "--db", db])
    attempts = json.loads(shown.stdout)["attempts"]
    assert [(a["number"], a["node_id"], a["gpus"], a["status"]) for a in attempts] == [
        (1, "ab" * 28, "1", "lost"), (2, "cd" * 28, "2", None)]
    assert attempts[0]["reason"] == "NodeDiedError: the node died."
    table = CliRunner().invoke(app, ["show", str(row.id), "--db", db]).stdout
    assert "Attempts" in table  # its cells fold to the console's width: checked in --json
    assert "2 (Ray node cdcdcdcdcdcd)" in table


def test_no_share_of_a_gpu_runs_local_jobs_on_the_cpu() -> None:
    from avc_tui.runner.executor import LocalExecutor

    slots = Execution(gpus_per_job=0).slots(LocalExecutor(), 3, jobs=2)
    assert [(s.device, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == [("cpu", "")] * 2


def test_ray_chooses_the_device(easy_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Ray chooses"):
        Execution("ray", device="cuda:1")
    result = CliRunner().invoke(app, ["run", str(easy_dataset), "--executor", "ray", "--device",
                                      "cpu", "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 1 and "Ray chooses each job's device" in result.stderr


def test_run_with_retries_keeps_its_device_and_prints_json(small_dataset: Path,
                                                           tmp_path: Path) -> None:
    """With --retries a driver runs the worker (one job of a batch): --device and --json mean
    what they mean without it."""
    db = str(tmp_path / "r.db")
    result = CliRunner().invoke(app, [
        "run", str(small_dataset), "-b", "tinycnn", "--weights", "none", "--input-size", "48",
        "--epochs", "1", "--workers", "0", "--device", "cpu", "--retries", "1", "--json",
        "--cache-dir", str(tmp_path / "cache"), "--db", db],
        env={"AVC_RUNS_DIR": str(tmp_path / "runs")})
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "finished" and record["test"]["top1"] is not None
    with Registry(db) as registry:
        row = registry.get(record["id"])
        assert row.device == "cpu" and row.attempt == 1
