"""The registry commands through Typer's test runner: run, grid, ls, show, compare, cancel,
resume, rm, export, predict by id, and the bad inputs that must change nothing."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui.cli import app
from avc_tui.registry import Registry
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig

runner = CliRunner()
FAST = ["-b", "tinycnn", "--weights", "none", "--input-size", "64", "--workers", "0",
        "--normalize", "video", "--epochs", "2"]


def avc(*args):
    return runner.invoke(app, [str(a) for a in args])


def _error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")], \
        result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture()
def db(tmp_path: Path) -> str:
    return str(tmp_path / "experiments.db")


def _finished(registry: Registry, backbone: str, head: str, top1: float) -> int:
    config = ExperimentConfig(
        data=DataConfig("/data/ucf"), features=FeatureConfig(backbone, weights="none"),
        head=HeadConfig(head), train=TrainConfig("abdn"))
    row = registry.create(config, run_dir=f"/runs/{backbone}-{head}-{top1}")
    registry.finish(row.id, "finished", result={"test": {"top1": top1, "top5": 1.0}})
    return row.id


def test_compare_puts_end_to_end_models_on_rows_of_their_own(db: str) -> None:
    from avc_tui.compare import END_TO_END
    from core.models.registry import HEADS

    # compare.py names them without importing the models; the names must agree.
    assert set(END_TO_END) == {name for name, spec in HEADS.items() if spec.end_to_end}
    with Registry(db) as registry:
        _finished(registry, "vgg16", "cnn-lstm", 0.75)
        _finished(registry, "pixels", "3d-cnn", 0.40)
    cells = json.loads(avc("compare", "--db", db, "--format", "json").stdout)
    assert cells == {"VGG16": {"cnn-lstm": 75.0, "end to end": None},
                     "3D CNN [Ji 2013]": {"cnn-lstm": None, "end to end": 40.0}}
    paper = json.loads(avc("compare", "--db", db, "--format", "json", "--paper",
                           "sports1m").stdout)
    assert paper["3D CNN [Ji 2013]"]["end to end (paper)"] == 60.4
    assert paper["3D CNN [Ji 2013]"]["end to end"] == 40.0


def test_run_ls_show_predict(easy_dataset: Path, tmp_path: Path, db: str) -> None:
    result = avc("run", easy_dataset, *FAST, "--db", db, "--tag", "mine", "--cache-dir",
                 tmp_path / "c", "--out", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["id"], body["status"]) == (1, "finished")

    listed = json.loads(avc("ls", "--db", db, "--json").stdout)
    assert [(r["id"], r["status"], r["backbone"], r["tags"]) for r in listed] == \
        [(1, "finished", "tinycnn", ["mine"])]
    assert json.loads(avc("ls", "--db", db, "--json", "--status", "failed").stdout) == []
    table = avc("ls", "--db", db)
    assert table.exit_code == 0 and "finished" in table.stdout

    shown = avc("show", "1", "--db", db)
    assert shown.exit_code == 0, shown.output
    for text in ("Confusion matrix", "Artifacts", "checkpoint", "Per-class test accuracy",
                 "tinycnn"):
        assert text in shown.stdout
    detail = json.loads(avc("show", "1", "--db", db, "--json").stdout)
    assert detail["result"]["test"]["count"] == 24
    assert detail["versions"]["torch"]

    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    predicted = avc("predict", "1", video, "--db", db, "--json")
    assert predicted.exit_code == 0, predicted.output
    with Registry(db) as registry:
        [record] = registry.predictions(1)
    assert record.video == str(video)


def test_compare_cell_by_cell(db: str) -> None:
    with Registry(db) as registry:
        _finished(registry, "vgg16", "cnn-lstm", 0.50)
        _finished(registry, "vgg16", "cnn-lstm", 0.75)  # with --agg best, the best run wins
        _finished(registry, "resnet50", "cnn-attention-lstm", 0.25)
        failed = _finished(registry, "resnet50", "cnn-lstm", 0.99)
        registry.update(failed, status="failed")  # only finished runs count
    # Two runs of one config are two trials of a cell: by default their mean ± sd (n).
    mean = json.loads(avc("compare", "--db", db, "--format", "json").stdout)
    assert mean["VGG16"]["cnn-lstm"] == 62.5 and mean["VGG16"]["cnn-lstm (n)"] == 2
    assert "62.5 ± 17.7 (2)" in avc("compare", "--db", db).stdout
    csv = avc("compare", "--db", db, "--format", "csv", "--agg", "best")
    assert csv.exit_code == 0, csv.output
    assert csv.stdout.splitlines() == ["CNN,cnn-lstm,cnn-attention-lstm", "VGG16,75.0,",
                                       "ResNet50,,25.0"]
    cells = json.loads(avc("compare", "--db", db, "--format", "json", "--agg", "best").stdout)
    assert cells == {"VGG16": {"cnn-lstm": 75.0, "cnn-attention-lstm": None},
                     "ResNet50": {"cnn-lstm": None, "cnn-attention-lstm": 25.0}}
    markdown = avc("compare", "--db", db, "--format", "markdown", "--agg", "best").stdout
    assert "| VGG16 | 75.0 | — |" in markdown
    latex = avc("compare", "--db", db, "--format", "latex", "--agg", "best").stdout
    assert "\\begin{tabular}" in latex and "75.0" in latex
    paper = json.loads(avc("compare", "--db", db, "--format", "json", "--paper",
                           "ucf101", "--agg", "best").stdout)
    assert paper["VGG19"]["cnn-lstm-attention (paper)"] == 95.8
    assert paper["VGG16"]["cnn-lstm"] == 75.0
    assert paper["Xception"]["cnn-attention-lstm (paper)"] == 48.7
    table = avc("compare", "--db", db, "--agg", "best")
    assert table.exit_code == 0 and "VGG16" in table.stdout and "75.0" in table.stdout


def test_resume_rm_export(easy_dataset: Path, tmp_path: Path, db: str, easy_config) -> None:
    with Registry(db) as registry:
        row = registry.create(easy_config(easy_dataset, epochs=2), runs_root=tmp_path / "runs")
        registry.update(row.id, status="lost")
    resumed = avc("resume", str(row.id), "--db", db, "--workers", "0", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "finished"
    _error(avc("resume", str(row.id), "--db", db), "is finished")

    out = tmp_path / "export"
    assert avc("export", out, "--db", db).exit_code == 0
    assert "tinycnn" in (out / "experiments.csv").read_text()
    assert (out / "metrics.csv").read_text().count("\n") > 10
    assert avc("export", tmp_path / "all.json", "--db", db, "--format", "json").exit_code == 0
    body = json.loads((tmp_path / "all.json").read_text())
    assert body["experiments"][0]["id"] == row.id and body["metrics"]

    _error(avc("rm", str(row.id), "99", "--db", db), "no experiment 99")
    assert len(json.loads(avc("ls", "--db", db, "--json").stdout)) == 1  # nothing removed
    removed = avc("rm", str(row.id), "--db", db, "--files")
    assert removed.exit_code == 0, removed.output
    assert json.loads(avc("ls", "--db", db, "--json").stdout) == []
    assert not Path(row.run_dir).exists()


def test_detached_run_finishes_in_the_background(easy_dataset: Path, tmp_path: Path,
                                                 db: str) -> None:
    result = avc("run", easy_dataset, *FAST, "--db", db, "--detach", "--json", "--cache-dir",
                 tmp_path / "c")
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    deadline = time.monotonic() + 120
    with Registry(db) as registry:
        while registry.get(started["id"]).status in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert registry.get(started["id"]).status == "finished"
    assert Path(started["log"]).is_file()


def test_grid_runs_jobs_in_parallel_and_compares(easy_dataset: Path, tmp_path: Path,
                                                 db: str) -> None:
    result = avc("grid", easy_dataset, "--backbones", "tinycnn", "--heads",
                 "cnn-lstm,cnn-lstm-attention", "--jobs", "2", "--weights", "none",
                 "--input-size", "64", "--epochs", "2", "--normalize", "video", "--workers", "0",
                 "--cache-dir", tmp_path / "c", "--db", db)
    assert result.exit_code == 0, result.output
    assert "running 2 at a time" in result.stdout
    assert "tinycnn" in result.stdout and "Test top1 accuracy" in result.stdout
    rows = json.loads(avc("ls", "--db", db, "--json", "--tag", "grid").stdout)
    assert [(r["head"], r["status"]) for r in rows] == [("cnn-lstm", "finished"),
                                                        ("cnn-lstm-attention", "finished")]


@pytest.mark.parametrize("args", [
    ["grid", "{data}", "--backbones", "vgg16,alexnet"],
    ["grid", "{data}", "--heads", "lstm"],
    ["run", "{tmp}/nowhere", "-b", "tinycnn"],
    ["run", "{tmp}/empty", "-b", "tinycnn"],
    ["run", "{data}", "-b", "alexnet"],
])
def test_bad_input_registers_nothing(args: list[str], easy_dataset: Path, tmp_path: Path,
                                     db: str) -> None:
    (tmp_path / "empty" / "someclass").mkdir(parents=True)
    args = [a.format(data=easy_dataset, tmp=tmp_path) for a in args]
    _error(avc(*args, "--db", db))
    if Path(db).exists():
        with Registry(db) as registry:
            assert registry.count() == 0


def test_unknown_ids_and_bad_databases(tmp_path: Path, db: str) -> None:
    Registry(db).close()
    for command in (["show", "7"], ["cancel", "7"], ["resume", "7"], ["rm", "7"]):
        _error(avc(*command, "--db", db), "no experiment 7")
    _error(avc("ls", "--db", str(tmp_path / "nothing.db")), "no registry at")
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all " * 50)
    _error(avc("ls", "--db", str(junk)), "not a usable registry database")
    assert junk.read_text() == "not a database at all " * 50
    _error(avc("ls", "--db", "postgresql+psycopg://avc@127.0.0.1:9/none?connect_timeout=2"),
           "cannot")
    _error(avc("ls", "--db", db, "--status", "sleeping"), "unknown status")
    _error(avc("compare", "--db", db, "--format", "pdf"), "unknown format")


def test_head_options_from_the_command_line(easy_dataset: Path, tmp_path: Path, db: str) -> None:
    result = avc("run", easy_dataset, *FAST, "--head", "soft-attention", "-o", "hidden=16",
                 "-o", "last_n=2", "--db", db, "--cache-dir", tmp_path / "c", "--json")
    assert result.exit_code == 0, result.output
    with Registry(db) as registry:
        config = registry.config(json.loads(result.stdout)["id"])
    assert config.head.options == {"hidden": 16, "last_n": 2}
    assert config.head.reduction == "none"
    _error(avc("run", easy_dataset, *FAST, "--head", "gla", "-o", "colour=blue", "--db", db),
           "head 'gla' has no option 'colour'")
    _error(avc("run", easy_dataset, *FAST, "--head", "gla", "-o", "rnn=transformer", "--db", db),
           "lstm, gru or sru")
    if importlib.util.find_spec("sru") is None:  # the hint names the extra, not Rich markup
        _error(avc("run", easy_dataset, *FAST, "--head", "gla", "-o", "rnn=sru", "--db", db),
               "pip install -e '.[sru]'")
    _error(avc("run", easy_dataset, *FAST, "-o", "hidden", "--db", db), "KEY=VALUE")
    with Registry(db) as registry:
        assert registry.count() == 1
