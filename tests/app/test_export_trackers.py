"""`avc export --format mlflow` and `--format tensorboard`, read back with each library's own
reader: MLflow's client on a local SQLite store, TensorBoard's event accumulator. CI installs the
two extras for these tests (AVC_REQUIRE_EXPORT=1); elsewhere they run when the libraries are
installed."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app
from avc_tui.export import flatten
from avc_tui.registry import Registry
from avc_tui.registry.store import Point
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig

REQUIRED = bool(os.environ.get("AVC_REQUIRE_EXPORT"))
runner = CliRunner()
START = datetime(2026, 3, 1, 12, 0, 0)
RESULT = {"test": {"count": 15, "loss": 1.25, "top1": 0.6, "top5": 0.9, "per_class": [1.0, 0.2],
                   "confusion": [[1, 0], [1, 1]], "task": "single-label",
                   "extra": {"gap": 0.5}}}


def _library(name: str):
    return __import__(name) if REQUIRED else pytest.importorskip(name)


def avc(*args):
    return runner.invoke(app, [str(a) for a in args])


def _error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error:") and "\nhint:" in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture()
def registry_with_runs(tmp_path: Path) -> tuple[str, list[int], list[Point]]:
    """Two experiments: a finished one with a known history (train, val, system points at
    chosen steps and times), its run folder's files and a checkpoint; and a failed one."""
    db = str(tmp_path / "experiments.db")
    config = ExperimentConfig(
        data=DataConfig(str(tmp_path / "data")), features=FeatureConfig("vgg16", weights="none"),
        head=HeadConfig("cnn-lstm-attention"), train=TrainConfig("abdn"), tags=("paper",))
    points = [Point(step, step, split, key, value, START + timedelta(seconds=10 * step + i))
              for step in (1, 2, 3)
              for i, (split, key, value) in enumerate([("train", "loss", 2.0 / step),
                                                        ("val", "acc", 0.2 * step)])]
    points += [Point(5, 0, "system", "cpu_percent", 180.5, START + timedelta(seconds=5)),
               Point(15, 2, "system", "rss_mb", 900.0, START + timedelta(seconds=15))]
    with Registry(db) as registry:
        done = registry.create(config, runs_root=tmp_path / "runs", tags=["paper"])
        registry.mark_running(done.id, device="cpu")
        registry.add_points(done.id, points)
        registry.finish(done.id, "finished", result=RESULT)
        failed = registry.create(config, runs_root=tmp_path / "runs")
        registry.mark_running(failed.id, device="cpu")
        registry.finish(failed.id, "failed", error="CUDA out of memory")
    folder = Path(done.run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(done.config))
    (folder / "result.json").write_text(json.dumps(RESULT))
    (folder / "best.pt").write_bytes(b"weights")
    return db, [done.id, failed.id], points


def _millis(moment: datetime) -> int:
    return int(round((moment - datetime(1970, 1, 1)).total_seconds() * 1000))


def test_mlflow_export_reads_back_with_mlflows_client(registry_with_runs, tmp_path: Path,
                                                      monkeypatch) -> None:
    _library("mlflow")
    from mlflow.tracking import MlflowClient

    db, (done, failed), points = registry_with_runs
    monkeypatch.chdir(tmp_path)  # MLflow puts a new experiment's artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = avc("export", "--format", "mlflow", "--tracking-uri", uri, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["experiments"] == [done, failed] and report["replaced"] == 0

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avc")
    run = client.get_run(report["runs"][str(done)])
    with Registry(db) as registry:
        row = registry.get(done)
    assert run.info.run_name == row.name and run.info.status == "FINISHED"
    assert run.info.start_time == _millis(row.started_at)
    assert run.info.end_time == _millis(row.finished_at)
    assert run.data.params == {key: str(value) for key, value in flatten(row.config).items()}
    assert run.data.params["head.name"] == "cnn-lstm-attention"
    tags = run.data.tags
    assert tags["avc.id"] == str(done) and tags["avc.backbone"] == "vgg16"
    assert tags["avc.tags"] == "paper" and tags["avc.status"] == "finished"
    for name in ("train/loss", "val/acc", "system/cpu_percent", "system/rss_mb"):
        split, key = name.split("/")
        history = sorted((m.step, m.timestamp, m.value)
                         for m in client.get_metric_history(run.info.run_id, name))
        assert history == [(p.step, _millis(p.time), pytest.approx(p.value)) for p in points
                           if (p.split, p.key) == (split, key)]
    assert run.data.metrics["test/top1"] == pytest.approx(0.6)
    assert run.data.metrics["test/gap"] == pytest.approx(0.5)
    assert "test/per_class" not in run.data.metrics
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"config.json", "result.json"}  # the checkpoint only when asked

    other = client.get_run(report["runs"][str(failed)])
    assert other.info.status == "FAILED"
    assert other.data.tags["mlflow.note.content"] == "CUDA out of memory"

    again = avc("export", "--format", "mlflow", "--tracking-uri", uri, "--db", db, "--id", done,
                "--checkpoints", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["replaced"] == 1
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["avc.id"] for r in runs) == sorted([str(done), str(failed)])
    newest = client.get_run(json.loads(again.stdout)["runs"][str(done)])
    assert {f.path for f in client.list_artifacts(newest.info.run_id)} == {
        "config.json", "result.json", "best.pt"}
    assert len(client.get_metric_history(newest.info.run_id, "train/loss")) == 3


def test_tensorboard_export_reads_back_with_tensorboards_reader(registry_with_runs,
                                                                tmp_path: Path) -> None:
    _library("tensorboard")
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    db, (done, failed), points = registry_with_runs
    out = tmp_path / "tb"
    for _ in range(2):  # a second export replaces the first: no history twice
        result = avc("export", out, "--format", "tensorboard", "--db", db, "--json")
        assert result.exit_code == 0, result.output
    folders = json.loads(result.stdout)["runs"]
    assert sorted(Path(p).name for p in folders.values()) == [
        f"{done:04d}-vgg16-cnn-lstm-attention", f"{failed:04d}-vgg16-cnn-lstm-attention"]
    assert len(list(Path(folders[str(done)]).glob("events.out.tfevents.*"))) == 1

    reader = EventAccumulator(folders[str(done)], size_guidance={"tensors": 0})
    reader.Reload()
    for name in ("train/loss", "val/acc", "system/cpu_percent"):
        split, key = name.split("/")
        events = [(e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto)))
                  for e in reader.Tensors(name)]
        expected = [(p.step, (p.time - datetime(1970, 1, 1)).total_seconds(), p.value)
                    for p in points if (p.split, p.key) == (split, key)]
        assert events == [(s, pytest.approx(t), pytest.approx(v)) for s, t, v in expected]
    (test_top1,) = reader.Tensors("test/top1")
    assert test_top1.step == 3
    assert float(tensor_util.make_ndarray(test_top1.tensor_proto)) == pytest.approx(0.6)
    text = tensor_util.make_ndarray(reader.Tensors("config/text_summary")[0].tensor_proto)
    assert b'"cnn-lstm-attention"' in text.item()
    content = reader.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["features.backbone"].string_value == "vgg16"
    assert hparams["train.seed"].number_value == 0 and hparams["features.compile"].number_value == 0
    assert hparams["train.precision"].string_value == "auto"
    assert hparams["train.epochs"].string_value == "none"  # the preset's
    assert hparams["avc.status"].string_value == "finished"


def test_a_missing_extra_is_one_error_with_what_to_install(registry_with_runs, tmp_path: Path,
                                                           monkeypatch) -> None:
    db, _, _ = registry_with_runs
    monkeypatch.setitem(sys.modules, "mlflow", None)  # importing mlflow now raises ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    _error(avc("export", "--format", "mlflow", "--tracking-uri", "sqlite:///x.db", "--db", db),
           "needs MLflow", "pip install -e '.[mlflow]'")
    _error(avc("export", tmp_path / "tb", "--format", "tensorboard", "--db", db),
           "needs TensorBoard", "pip install -e '.[tensorboard]'")
    assert not (tmp_path / "tb").exists()


def test_bad_export_targets_are_one_error(registry_with_runs, tmp_path: Path,
                                          monkeypatch) -> None:
    db, _, _ = registry_with_runs
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _error(avc("export", "--format", "mlflow", "--db", db), "needs a tracking store",
           "--tracking-uri")
    _error(avc("export", "--format", "tensorboard", "--db", db), "OUT, which is missing")
    _error(avc("export", tmp_path / "x", "--format", "wandb", "--db", db),
           "unknown export format 'wandb'")
    _error(avc("export", tmp_path / "x", "--id", "99", "--db", db), "no experiment 99")
    assert not (tmp_path / "x").exists()
    _library("mlflow")
    _error(avc("export", "--format", "mlflow", "--tracking-uri", "nosuchscheme://x", "--db", db),
           "cannot open the MLflow store nosuchscheme://x")
