"""The training loop's overheads: checkpoints every N epochs on a writer thread (the last and the
best always), the running numbers read every few steps, gradient buffers kept on the CPU, and
the precision it trains in."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from core import checkpoint as checkpoint_mod
from core.checkpoint import CheckpointWriter, load_checkpoint, snapshot
from core.events import CheckpointSaved, EpochFinished, StepFinished
from core.models import build_head
from core.presets import PRESETS
from core.sequences import SequenceSet
from core.train import TrainSettings, train_head


def _sets(n: int = 40, frames: int = 4, dim: int = 16) -> tuple[SequenceSet, SequenceSet]:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    # Separable: class c lights up dimension c.
    features = torch.randn(n, frames, dim, generator=generator) * 0.1
    features[torch.arange(n), :, labels] += 1.0
    data = SequenceSet(features.half(), torch.ones(n, frames, dtype=torch.bool), labels,
                       torch.full((n,), frames))
    return data.subset(torch.arange(0, n, 2)), data.subset(torch.arange(1, n, 2))


def _train(tmp_path: Path, *, preset: str = "abdn", epochs: int = 7, batch: int = 3,
           resume: bool = False, should_stop=None, events: list | None = None, **changes):
    """Train the small head; ``events`` (a list) receives the loop's events as they come."""
    train_set, val_set = _sets()
    torch.manual_seed(0)
    model = build_head("cnn-lstm", in_dim=16, num_classes=3, frames=4)
    settings = replace(TrainSettings(PRESETS[preset], epochs=epochs, batch_size=batch, lr=1e-2,
                                     seed=0, device=torch.device("cpu"), precision="fp32",
                                     use_mask=False), **changes)
    events = [] if events is None else events
    outcome = train_head(model, train_set, val_set, 3, settings, run_dir=tmp_path,
                         checkpoint_extra={"config": "{}"}, callbacks=[events.append],
                         resume=resume, should_stop=should_stop)
    return outcome, events


def test_checkpoints_every_n_epochs_and_always_the_last(tmp_path: Path) -> None:
    outcome, events = _train(tmp_path, checkpoint_every=3)
    assert [e.epoch for e in events if isinstance(e, CheckpointSaved)] == [3, 6, 7]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 7
    assert len(outcome.history) == 7 and not (tmp_path / "best.pt").exists()  # abdn: the last


def test_a_cancel_saves_the_epoch_it_stops_after(tmp_path: Path) -> None:
    events: list = []

    def stop() -> bool:
        return sum(isinstance(e, EpochFinished) for e in events) >= 2

    outcome, _ = _train(tmp_path, checkpoint_every=5, should_stop=stop, events=events)
    assert outcome.cancelled and outcome.epochs_run == 2
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2  # not in the schedule


def test_a_cancel_within_an_epoch_ends_at_the_last_checkpoint(tmp_path: Path) -> None:
    steps = []

    def stop() -> bool:  # 7 steps an epoch: within the fifth epoch
        steps.append(1)
        return len(steps) == 4 * 7 + 3

    outcome, _ = _train(tmp_path, checkpoint_every=3, should_stop=stop)
    # Epoch 4 finished but was not saved: its state is gone, so the run ends at epoch 3.
    assert outcome.cancelled and outcome.epochs_run == 3
    assert [r["epoch"] for r in outcome.history] == [1, 2, 3]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 3


def test_the_best_checkpoint_is_never_ahead_of_the_latest(tmp_path: Path) -> None:
    outcome, events = _train(tmp_path, preset="modern", epochs=6, checkpoint_every=10)
    saved = [e.epoch for e in events if isinstance(e, CheckpointSaved)]
    best = load_checkpoint(tmp_path / "best.pt")["epoch"]
    assert best in saved and saved[-1] == outcome.epochs_run
    assert best == outcome.selected_epoch


def test_resume_after_sparse_checkpoints_repeats_only_what_was_not_saved(tmp_path: Path) -> None:
    full, _ = _train(tmp_path / "full", epochs=6)
    _train(tmp_path / "cut", epochs=4, checkpoint_every=3)  # saved after epochs 3 and 4
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert state["epoch"] == 4
    resumed, _ = _train(tmp_path / "cut", epochs=6, checkpoint_every=3, resume=True)
    assert [r["train_loss"] for r in resumed.history] == pytest.approx(
        [r["train_loss"] for r in full.history])


def test_the_best_checkpoint_is_a_link_to_the_latest_when_both_are_written(tmp_path: Path
                                                                           ) -> None:
    outcome, events = _train(tmp_path, preset="modern", epochs=3, checkpoint_every=1)
    best, latest = tmp_path / "best.pt", tmp_path / "checkpoint.pt"
    assert best.is_file()
    best_epoch = load_checkpoint(best)["epoch"]
    assert best_epoch == outcome.selected_epoch
    if best_epoch == 3:  # written together: one file
        assert os.stat(best).st_ino == os.stat(latest).st_ino


def test_running_numbers_are_read_every_log_every_steps(tmp_path: Path) -> None:
    # 20 videos in batches of 3: 7 steps (the last of two), read at steps 2, 4, 6 and 7.
    outcome, events = _train(tmp_path, epochs=1, log_every=2)
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert [e.step for e in steps] == [2, 4, 6, 7]
    assert [e.batch_size for e in steps] == [6, 6, 6, 2]
    mean = sum(e.loss * e.batch_size for e in steps) / 20
    assert mean == pytest.approx(outcome.history[0]["train_loss"])
    hits = sum(e.accuracy * e.batch_size for e in steps)
    assert hits / 20 == pytest.approx(outcome.history[0]["train_acc"])


def test_gradient_buffers_stay_allocated_between_cpu_steps(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = torch.optim.Optimizer.zero_grad

    def spy(self, set_to_none: bool = True):
        calls.append(set_to_none)
        return real(self, set_to_none)

    monkeypatch.setattr(torch.optim.Optimizer, "zero_grad", spy)
    _train(tmp_path, epochs=1)
    assert calls and not any(calls)


def test_training_in_bf16_learns_the_same_task(tmp_path: Path) -> None:
    fp32, _ = _train(tmp_path / "fp32", epochs=6)
    bf16, _ = _train(tmp_path / "bf16", epochs=6, precision="bf16")
    assert fp32.history[-1]["val_acc"] == 1.0 and bf16.history[-1]["val_acc"] == 1.0
    # Not the same numbers: the steps ran in another precision.
    assert bf16.history[0]["train_loss"] != fp32.history[0]["train_loss"]


def test_the_writer_snapshots_the_state_and_reports_a_failed_write(tmp_path: Path,
                                                                   monkeypatch) -> None:
    weights = torch.zeros(3)
    writer = CheckpointWriter()
    done = []
    writer.submit({"model": {"w": weights}, "config": "{}"}, latest=tmp_path / "a.pt",
                  done=lambda: done.append(1))
    weights += 5  # training goes on while the write runs
    writer.wait()
    assert done == [1]
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")["model"]["w"], torch.zeros(3))
    nested = {"a": [weights, (weights,)], "b": 1}
    copy = snapshot(nested)
    assert copy["b"] == 1 and copy["a"][1][0] is not weights
    assert torch.equal(copy["a"][0], weights)

    def full_disk(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_mod, "save_checkpoint", full_disk)
    writer.submit({"model": {}, "config": "{}"}, latest=tmp_path / "b.pt",
                  done=lambda: done.append(2))
    with pytest.raises(OSError, match="No space left"):
        writer.wait()
    assert done == [1] and not (tmp_path / "b.pt").exists()
    writer.wait()  # the error is raised once
