"""Trials and groups: `avc grid --trials/--split-seeds/--splits` registers one group, `avc compare`
shows mean ± sd over the trials of each cell, and a group is resumed, cancelled and removed as
one."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui import control
from avc_tui.cli import app
from avc_tui.compare import comparison, render
from avc_tui.registry import Registry, Status
from core.config import cell_key
from core.errors import ConfigError

GRID = ["--weights", "none", "--input-size", "64", "--workers", "0", "--normalize", "video",
        "--epochs", "1", "--backbones", "tinycnn"]


def avc(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_trials_split_seeds_and_folds_are_the_axes_of_one_cell() -> None:
    request = control.LaunchRequest("/data/ucf101", backbones=("tinycnn",),
                                    heads=("cnn-lstm", "cnn-lstm-attention"), weights="none",
                                    seed=5, grid=True)
    planned = control.plan_grid(request, control.Trials(seeds=2, split_seeds=3))
    assert len(planned.configs) == 2 * 2 * 3
    assert planned.axes == {"backbone": ["tinycnn"], "head": ["cnn-lstm", "cnn-lstm-attention"],
                            "seed": [5, 6], "split_seed": [0, 1, 2]}
    # The trials are outermost: the first jobs are one trial of every cell.
    assert [v["head"] for v in planned.values[:2]] == ["cnn-lstm", "cnn-lstm-attention"]
    for config, values in zip(planned.configs, planned.values):
        assert (config.train.seed, config.data.split_seed) == (values["seed"],
                                                              values["split_seed"])
    cells = {(c.head.name, c.cell()) for c in planned.configs}
    assert len(cells) == 2, "trials of one head are one cell"

    folds = control.plan_grid(control.LaunchRequest("/data/ucf101", layout="ucf101",
                                                    backbones=("tinycnn",), heads=("cnn-lstm",),
                                                    weights="none"),
                              control.Trials(splits=["1", "2", "3"]))
    assert [c.data.split for c in folds.configs] == ["1", "2", "3"]
    assert len({c.cell() for c in folds.configs}) == 1
    abdn = control.build_configs(control.LaunchRequest("/data/ucf101", layout="ucf101",
                                                       backbones=("tinycnn",),
                                                       heads=("cnn-lstm",), weights="none"))
    assert abdn[0].cell() != folds.configs[0].cell(), "a random split is another protocol"
    with pytest.raises(ConfigError, match="two protocols"):
        control.plan_grid(request, control.Trials(split_seeds=2, splits=["1"]))


def test_a_grid_starts_different_backbones_first() -> None:
    configs = control.build_configs(control.LaunchRequest("/data/ucf101", grid=True,
                                                          weights="none"))
    first = [c.features.backbone for c in configs[:5]]
    assert len(set(first)) == 5, first


def test_a_sweep_of_two_axes_with_trials_is_one_group_and_compare_averages_it(
        easy_dataset: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = avc("grid", easy_dataset, *GRID, "--heads", "cnn-lstm,cnn-lstm-attention",
                 "--lr", "1e-3,3e-3", "--trials", "2", "-o", "hidden=8", "--db", db,
                 "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert "± " in result.stdout
    with Registry(str(db)) as registry:
        [(group, counts)] = registry.groups()
        assert counts == {Status.FINISHED: 8}
        assert group.axes == {"backbone": ["tinycnn"], "head": ["cnn-lstm", "cnn-lstm-attention"],
                              "seed": [0, 1], "lr": [1e-3, 3e-3]}
        rows = registry.list(group=group.id)
        # One trial of every cell first; heads before backbones within it.
        assert [(r.axes["seed"], r.axes["lr"], r.head) for r in rows] == [
            (seed, lr, head) for seed in (0, 1) for lr in (1e-3, 3e-3)
            for head in ("cnn-lstm", "cnn-lstm-attention")]
        for r in rows:
            config = registry.config(r.id)
            assert (config.train.seed, config.train.lr) == (r.axes["seed"], r.axes["lr"])
            assert config.head.options == {"hidden": 8}
    cells = json.loads(avc("compare", "--group", group.id, "--db", db, "--format",
                           "json").stdout)
    for head in ("cnn-lstm", "cnn-lstm-attention"):
        # Each learning rate is a cell of two trials; the table shows the cell with the best mean.
        trials = {lr: [100 * r.test_top1 for r in rows if r.head == head and r.axes["lr"] == lr]
                  for lr in (1e-3, 3e-3)}
        best = max(trials.values(), key=statistics.mean)
        assert cells["tinycnn"][head] == pytest.approx(statistics.mean(best), abs=0.01)
        assert cells["tinycnn"][f"{head} (sd)"] == pytest.approx(statistics.stdev(best), abs=0.01)
        assert cells["tinycnn"][f"{head} (n)"] == 2
    best_run = json.loads(avc("compare", "--group", group.id, "--db", db, "--agg", "best",
                              "--format", "json").stdout)
    assert best_run["tinycnn"]["cnn-lstm"] == pytest.approx(
        max(100 * r.test_top1 for r in rows if r.head == "cnn-lstm"), abs=0.01)
    listed = avc("ls", "--groups", "--db", db, "--json")
    assert json.loads(listed.stdout)[0]["done"] == 8
    # "Which learning rate is best": each lr over both heads and both trials, best first.
    ranked = json.loads(avc("compare", "--group", group.id, "--by", "lr", "--db", db,
                            "--format", "json").stdout)
    expected = sorted(((statistics.mean(100 * r.test_top1 for r in rows if r.axes["lr"] == lr),
                        lr) for lr in (1e-3, 3e-3)), reverse=True)
    assert [(row["lr"], row["n"]) for row in ranked] == [(lr, 4) for _, lr in expected]
    assert ranked[0]["mean"] == pytest.approx(expected[0][0], abs=0.01)
    assert avc("compare", "--group", group.id, "--by", "all", "--db", db).exit_code == 0
    unknown = avc("compare", "--group", group.id, "--by", "hidden", "--db", db)
    assert unknown.exit_code == 1 and "no axis hidden" in unknown.stderr


def test_lists_of_values_are_read_as_sweep_axes() -> None:
    first, options, axes = control.parse_sweep(
        {"lr": "1e-3, 3e-4", "batch_size": "16", "epochs": None, "normalize": "none,video"},
        ["hidden=64,128", "rnn=gru"])
    assert first == {"lr": 1e-3, "batch_size": 16, "epochs": None, "normalize": "none"}
    assert options == {"hidden": 64, "rnn": "gru"}
    assert axes == {"lr": [1e-3, 3e-4], "normalize": ["none", "video"], "hidden": [64, 128]}
    with pytest.raises(ConfigError, match="--batch-size takes int values"):
        control.parse_sweep({"batch_size": "16,big"})
    request = control.LaunchRequest("/data/ucf101", backbones=("tinycnn",), heads=("cnn-lstm",),
                                    weights="none", sweep=axes)
    with pytest.raises(ConfigError, match="several values given for lr, normalize, hidden"):
        control.build_configs(request)
    assert len(control.plan_grid(request).configs) == 8


def test_a_stopped_group_resumes_only_what_did_not_finish(easy_dataset: Path, easy_config,
                                                          tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    options = control.WorkerOptions(0, tmp_path / "cache")
    planned = control.Planned([easy_config(easy_dataset, epochs=2, seed=s) for s in range(3)],
                              [{"seed": s} for s in range(3)], {"seed": [0, 1, 2]})
    with Registry(str(db)) as registry:
        group, rows = control.register_group(registry, planned, name="three seeds")
        done, stopped, never = (r.id for r in rows)
        assert control.run_here(registry, done, options=options) == Status.FINISHED
        finished_at = registry.get(done).finished_at
        registry.finish(stopped, Status.CANCELLED)  # stopped before it began: queued → cancelled
    result = avc("resume", "--group", group.id, "--db", db, "--workers", "0", "--cache-dir",
                 tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert f"resuming experiments {stopped}, {never}" in result.stdout
    with Registry(str(db)) as registry:
        assert [r.status for r in registry.list(group=group.id)] == [Status.FINISHED] * 3
        assert registry.get(done).finished_at == finished_at, "the finished run was left alone"
    again = avc("resume", "--group", group.id, "--db", db)
    assert again.exit_code == 1 and "nothing to resume" in again.stderr


def test_a_group_is_cancelled_and_removed_as_one(easy_dataset: Path, easy_config,
                                                 tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    planned = control.Planned([easy_config(easy_dataset, seed=s) for s in range(2)],
                              [{"seed": s} for s in range(2)], {"seed": [0, 1]})
    with Registry(str(db)) as registry:
        group, rows = control.register_group(registry, planned, name="two",
                                             tags=["mine"])
        alone = registry.create(easy_config(easy_dataset), runs_root=tmp_path / "runs").id
    cancelled = avc("cancel", "--group", group.id, "--db", db)
    assert cancelled.exit_code == 0, cancelled.output
    with Registry(str(db)) as registry:
        assert {r.status for r in registry.list(group=group.id)} == {Status.CANCELLED}
        assert registry.get(alone).status == Status.QUEUED
    removed = avc("rm", "--group", group.id, "--db", db)
    assert removed.exit_code == 0, removed.output
    with Registry(str(db)) as registry:
        assert [r.id for r in registry.list()] == [alone]
        assert registry.groups() == []
    assert avc("ls", "--group", group.id, "--db", db).exit_code == 1
    both = avc("rm", alone, "--group", group.id, "--db", db)
    assert both.exit_code == 1 and "one of them" in both.stderr


def _record(i: int, head: str, top1: float, cell: str = "c") -> dict:
    return {"id": i, "name": head, "dataset": "ucf101", "backbone": "vgg16", "head": head,
            "preset": "abdn", "seed": i, "cell": f"{cell}-{head}", "top1": top1, "top5": 1.0}


def test_compare_marks_a_paper_value_outside_two_standard_errors() -> None:
    records = [_record(1, "cnn-lstm", 0.90), _record(2, "cnn-lstm", 0.92),
               _record(3, "cnn-lstm", 0.91),
               _record(4, "cnn-lstm-attention", 0.50), _record(5, "cnn-lstm-attention", 0.52)]
    table = comparison(records, paper="ucf101")
    assert table.loc["VGG16", "cnn-lstm"] == pytest.approx(91.0)
    assert table.loc["VGG16", "cnn-lstm (sd)"] == pytest.approx(1.0)
    markdown = render(table, "markdown")
    row = next(line for line in markdown.splitlines() if line.startswith("| VGG16"))
    # The paper's 91.0 is our mean: no mark; its 94.5 is far from 51.0 ± 1.4 (2): marked.
    assert "| 91.0 ± 1.0 (3) | 91.0 | +0.0 |" in row
    assert "| 51.0 ± 1.4 (2) | 94.5 | -43.5* |" in row
    latex = render(table, "latex")
    assert "\\textbf{91.0 $\\pm$ 1.0 (3)}" in latex and "\\bottomrule" in latex
    # Runs that differ in more than their seeds are other cells: the best mean is shown.
    other = [_record(6, "cnn-lstm", 0.99, cell="lr"), _record(7, "cnn-lstm", 0.97, cell="lr")]
    assert comparison(records + other).loc["VGG16", "cnn-lstm"] == pytest.approx(98.0)
    assert cell_key({"data": {"split": "abdn", "split_seed": 1}, "train": {"seed": 1}}) == \
        cell_key({"data": {"split": "abdn", "split_seed": 2}, "train": {"seed": 3}})


def test_a_sweep_file_is_the_same_grid_written_down(tmp_path: Path) -> None:
    (tmp_path / "sweep.toml").write_text(
        'root = "data"\nbackbones = ["tinycnn"]\nheads = ["cnn-lstm", "gla"]\nweights = "none"\n'
        'lr = [1e-3, 3e-4]\ntrials = 2\ngroup_name = "two lrs"\n[options]\nhidden = [8, 16]\n')
    request, trials, name, sample, _ = control.read_sweep_file(tmp_path / "sweep.toml")
    assert sample is None
    assert (Path(request.root), request.heads, name) == (tmp_path / "data", ("cnn-lstm", "gla"),
                                                         "two lrs")
    assert request.sweep == {"lr": [1e-3, 3e-4], "hidden": [8, 16]}
    planned = control.plan_grid(request, trials)
    assert len(planned.configs) == 2 * 2 * 2 * 2
    assert planned.axes["seed"] == [0, 1]
    (tmp_path / "sweep.json").write_text(json.dumps(
        {"root": "data", "backbones": ["tinycnn"], "heads": ["cnn-lstm"], "weights": "none",
         "splits": ["1", "2"], "layout": "ucf101", "options": {"hidden": 8}}))
    request, trials, *_ = control.read_sweep_file(tmp_path / "sweep.json")
    assert [c.data.split for c in control.plan_grid(request, trials).configs] == ["1", "2"]
    (tmp_path / "bad.toml").write_text('root = "data"\nlearning_rate = 0.1\n')
    with pytest.raises(ConfigError, match="unknown launch settings: learning_rate"):
        control.read_sweep_file(tmp_path / "bad.toml")
    both = avc("grid", tmp_path / "data", "--config", tmp_path / "sweep.toml")
    assert both.exit_code == 1 and "takes everything from the file" in both.stderr


def test_a_runs_config_json_runs_it_again_exactly(easy_dataset: Path, easy_config,
                                                  tmp_path: Path) -> None:
    config = easy_config(easy_dataset, epochs=1)
    (tmp_path / "config.json").write_text(config.to_json())
    db = tmp_path / "r.db"
    again = avc("run", "--config", tmp_path / "config.json", "--db", db, "--workers", "0",
                "--cache-dir", tmp_path / "cache", "--json")
    assert again.exit_code == 0, again.output
    with Registry(str(db)) as registry:
        [row] = registry.list()
        assert row.config_hash == config.hash() and row.status == Status.FINISHED


def test_sample_draws_combinations_and_values_from_ranges() -> None:
    first, options, axes = control.parse_sweep({"lr": "1e-4..1e-2:log", "batch_size": "8,16"},
                                               ["hidden=16..64"])
    assert axes["lr"] == [control.Range(1e-4, 1e-2, log=True)]
    assert axes["hidden"] == [control.Range(16, 64, integer=True)]
    assert (first["lr"], options["hidden"]) == (1e-4, 16)
    request = control.LaunchRequest("/data/ucf101", backbones=("tinycnn",), heads=("cnn-lstm",),
                                    weights="none", sweep=axes)
    with pytest.raises(ConfigError, match="drawn from"):
        control.plan_grid(request)
    planned = control.plan_grid(request, control.Trials(seeds=2), sample=5, sample_seed=3)
    assert len(planned.configs) == 5 * 2
    lrs = [c.train.lr for c in planned.configs]
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs) and len(set(lrs)) == 5
    hiddens = [c.head.options["hidden"] for c in planned.configs]
    assert all(isinstance(h, int) and 16 <= h <= 64 for h in hiddens)
    again = control.plan_grid(request, control.Trials(seeds=2), sample=5, sample_seed=3)
    assert [c.hash() for c in again.configs] == [c.hash() for c in planned.configs]
    # Lists alone: no combination twice, however many are asked for.
    only_lists = replace(request, sweep={"batch_size": [8, 16]})
    assert len(control.plan_grid(only_lists, sample=10).configs) == 2
    with pytest.raises(ConfigError, match="cannot draw from the range"):
        control.parse_sweep({"lr": "1e-2..1e-4"})
