"""Training end to end on a small synthetic set: learning, checkpoints, resume, presets, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.config import ExperimentConfig
from core.errors import ConfigError
from core.events import CheckpointSaved, EpochFinished, StepFinished, TrainingStarted
from core.experiment import run_experiment
from core.presets import PRESETS
from core.train import holdout_split


@pytest.fixture(scope="module")
def trained(easy_dataset: Path, tmp_path_factory: pytest.TempPathFactory, easy_config):
    run_dir = tmp_path_factory.mktemp("run")
    events: list = []
    result = run_experiment(easy_config(easy_dataset, "cnn-lstm-attention", epochs=25),
                            run_dir=run_dir, cache_dir=tmp_path_factory.mktemp("cache"),
                            callbacks=[events.append], num_workers=0)
    return result, events


def test_a_small_model_learns_an_easy_synthetic_set(trained) -> None:
    result, _ = trained
    assert result.test is not None
    assert result.test.count == 24
    assert result.test.top1 >= 0.9, result.history[-3:]


def test_run_folder_contents(trained) -> None:
    result, _ = trained
    run_dir = result.run_dir
    config = ExperimentConfig.from_json((run_dir / "config.json").read_text())
    assert config.hash() == result.config.hash()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 25
    assert json.loads(lines[-1])["epoch"] == 25
    body = json.loads((run_dir / "result.json").read_text())
    assert body["test"]["top1"] == pytest.approx(result.test.top1)
    assert len(body["test"]["confusion"]) == 4
    assert sum(map(sum, body["test"]["confusion"])) == 24
    # abdn preset: the reported accuracy is the last epoch's validation (= test) accuracy.
    assert body["test"]["top1"] == pytest.approx(result.history[-1]["val_acc"])


def test_checkpoint_loads_with_weights_only(trained) -> None:
    result, _ = trained
    state = torch.load(result.run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 25
    assert state["classes"] == ["grow", "move_left", "move_right", "shrink"]
    assert ExperimentConfig.from_json(state["config"]).features.backbone == "tinycnn"


def test_events_stream_progress(trained) -> None:
    _, events = trained
    kinds = [type(e) for e in events]
    assert kinds.count(EpochFinished) == 25
    assert kinds.count(CheckpointSaved) == 25
    started = next(e for e in events if isinstance(e, TrainingStarted))
    steps = [e for e in events if isinstance(e, StepFinished)]
    # The running numbers are read every log_every (10) steps and at an epoch's last step: with
    # 7 steps an epoch, once an epoch, each event the mean over the steps since the one before.
    assert started.steps_per_epoch < 10
    assert [e.step for e in steps] == [started.steps_per_epoch] * 25
    assert all(e.batch_size == started.train_videos for e in steps)
    assert steps[-1].global_step == 25 * started.steps_per_epoch
    records = [e.metrics for e in events if isinstance(e, EpochFinished)]
    assert [e.loss for e in steps] == pytest.approx([r["train_loss"] for r in records])
    assert [e.accuracy for e in steps] == pytest.approx([r["train_acc"] for r in records])


def test_cancel_then_resume_keeps_history(easy_dataset: Path, tmp_path: Path, easy_config) -> None:
    config = easy_config(easy_dataset, epochs=4)
    epochs_done = []

    def stop_after_two() -> bool:
        return len(epochs_done) >= 2

    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0, should_stop=stop_after_two,
                            callbacks=[lambda e: isinstance(e, EpochFinished)
                                       and epochs_done.append(e.epoch)])
    assert result.cancelled
    assert not (tmp_path / "run" / "result.json").exists()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2

    resumed = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                             num_workers=0, resume=True)
    assert not resumed.cancelled
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 4

    # Resuming reproduces an uninterrupted run exactly.
    straight = run_experiment(config, run_dir=tmp_path / "straight", cache_dir=tmp_path / "cache",
                              num_workers=0)
    for a, b in zip(resumed.history, straight.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert resumed.test.top1 == pytest.approx(straight.test.top1)


def test_resume_refuses_a_different_experiment(easy_dataset: Path, tmp_path: Path, easy_config) -> None:
    run_experiment(easy_config(easy_dataset, epochs=1), run_dir=tmp_path / "run",
                   cache_dir=tmp_path / "cache", num_workers=0)
    with pytest.raises(ConfigError, match="different experiment"):
        run_experiment(easy_config(easy_dataset, epochs=1, seed=5), run_dir=tmp_path / "run",
                       cache_dir=tmp_path / "cache", num_workers=0, resume=True)


def test_modern_preset_selects_the_best_validation_epoch(easy_dataset: Path,
                                                         tmp_path: Path, easy_config) -> None:
    config = easy_config(easy_dataset, epochs=6).with_changes(train={"preset": "modern"})
    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0)
    best = max(result.history, key=lambda h: (h["val_acc"], -h["val_loss"]))
    assert result.selected_epoch == best["epoch"]
    assert (tmp_path / "run" / "best.pt").exists()
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert state["epoch"] == best["epoch"]
    body = json.loads((tmp_path / "run" / "result.json").read_text())
    # 28 training videos: a stratified 15 % hold-out of 1 per class, the test split untouched.
    assert body["dataset"]["val"] == 8 and body["dataset"]["train"] == 48
    assert body["dataset"]["test"] == 24


def test_presets_match_the_paper() -> None:
    abdn = PRESETS["abdn"]
    assert (abdn.optimizer, abdn.lr, abdn.batch_size, abdn.epochs) == ("rmsprop", 1e-3, 128, 60)
    assert abdn.batch_size_for("resnet50") == abdn.batch_size_for("xception") == 16
    assert abdn.batch_size_for("vgg16") == 128
    assert abdn.selection == "last" and abdn.validation == "test"
    opt = abdn.make_optimizer([torch.nn.Parameter(torch.zeros(1))], abdn.lr)
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.RMSprop)
    assert (group["lr"], group["alpha"], group["eps"]) == (1e-3, 0.9, 1e-7)


def test_holdout_split_is_stratified_and_seeded() -> None:
    labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 3)
    train, val = holdout_split(labels, 0.2, seed=0)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(23))
    assert labels[val].bincount().tolist() == [2, 2, 1]
    again, _ = holdout_split(labels, 0.2, seed=0)
    assert torch.equal(train, again)


def test_config_round_trip_and_hash(easy_dataset: Path, easy_config) -> None:
    config = easy_config(easy_dataset)
    again = ExperimentConfig.from_json(config.to_json())
    assert again == config
    assert again.hash() == config.hash()
    assert config.with_changes(head={"name": "cnn-lstm-attention"}).hash() != config.hash()
    assert config.with_changes(name="renamed").hash() == config.hash()
    # Where it runs is not what it is: a run resumed on another device is the same experiment.
    assert config.with_changes(train={"device": "cpu"}).hash() == config.hash()


@pytest.mark.parametrize(("section", "change", "message"), [
    ("features", {"backbone": "alexnet"}, "unknown backbone"),
    ("head", {"name": "cnn_lstm_attention"}, "unknown head 'cnn_lstm_attention'"),
    ("head", {"reduction": "max"}, "unknown feature reduction"),
    ("train", {"preset": "keras"}, "unknown preset"),
    ("train", {"epochs": 0}, "epochs must be at least 1"),
    ("train", {"device": "tpu"}, "unknown device"),
    ("features", {"input_size": 8}, "too small"),
])
def test_bad_configs_are_clear_errors(easy_dataset: Path, section: str, change: dict,
                                      message: str, easy_config) -> None:
    with pytest.raises(ConfigError, match=message):
        easy_config(easy_dataset).with_changes(**{section: change})


def test_a_near_miss_head_name_is_suggested_in_the_hint() -> None:
    from core.config import HeadConfig

    with pytest.raises(ConfigError) as caught:
        HeadConfig("cnn_lstm_attention")
    assert "did you mean 'cnn-lstm-attention'" in caught.value.hint
