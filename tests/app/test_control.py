"""The control layer that the CLI and the TUI share: launch requests become configs, runs are
registered and run, and every epoch's metrics reach the registry whatever their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from avc_tui import control
from avc_tui.registry import Registry, Status
from core.data.youtube8m import synthesize
from core.errors import ConfigError


def test_a_multi_label_run_records_its_validation_map(tmp_path: Path) -> None:
    synthesize(tmp_path / "yt8m", videos_per_split=24, num_classes=5, frames=(4, 8), seed=3)
    request = control.LaunchRequest(
        tmp_path / "yt8m", layout="youtube8m", split="1", heads=("nextvlad",), epochs=3,
        batch_size=8, lr=1e-3, device="cpu",
        head_options={"audio_dim": 128, "hidden": 32, "clusters": 8})
    [config] = control.build_configs(request)
    assert config.features.backbone == "yt8m" and config.head.mask
    dataset = control.check_launch([config])
    with Registry(str(tmp_path / "experiments.db")) as registry:
        [row] = control.register(registry, [config], runs_root=tmp_path / "runs")
        status = control.run_here(registry, row.id, dataset=dataset,
                                  options=control.WorkerOptions(cache_dir=tmp_path / "cache"))
        assert status == Status.FINISHED, registry.get(row.id).error
        maps = registry.points(row.id, key="map")
        assert [(p.split, p.epoch) for p in maps] == [("val", 1), ("val", 2), ("val", 3)]
        assert all(0.0 <= p.value <= 1.0 for p in maps)
        keys = {(p.split, p.key) for p in registry.points(row.id)}
        assert {("val", "gap"), ("val", "perr"), ("train", "loss")} <= keys
        # The dashboard's "acc" and "best" columns show the metric the run is selected by.
        _, latest, best = registry.latest_epoch_metrics(row.id)
        assert latest == maps[-1].value and best == max(p.value for p in maps)


def test_a_data_parallel_run_started_alone_takes_as_many_gpus(tmp_path: Path,
                                                            monkeypatch) -> None:
    """--processes 2 started in the background (--detach, the TUI) gets a slot of two GPUs."""
    from avc_tui.control import operations

    synthesize(tmp_path / "yt8m", videos_per_split=8, num_classes=3, frames=(2, 4))
    request = control.LaunchRequest(tmp_path / "yt8m", layout="youtube8m", split="1",
                                    heads=("nextvlad",), batch_size=8, processes=2)
    [config] = control.build_configs(request)
    submitted = []

    class Recording:
        def submit(self, job):
            submitted.append(job)
            raise RuntimeError("recorded")

    monkeypatch.setattr(operations, "available_devices", lambda: ["cuda:0", "cuda:1", "cuda:2"])
    monkeypatch.setattr(operations, "LocalExecutor", Recording)
    with Registry(str(tmp_path / "experiments.db")) as registry:
        [row] = control.register(registry, [config], runs_root=tmp_path / "runs")
        with pytest.raises(RuntimeError, match="recorded"):
            control.start_background(registry, row.id)
    assert submitted[0].slot.env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_a_grid_request_is_the_abdn_grid_and_names_are_checked(tmp_path: Path) -> None:
    configs = control.build_configs(control.LaunchRequest(tmp_path, grid=True, weights="none"))
    assert len(configs) == 15
    assert {c.head.name for c in configs} == {"cnn-lstm", "cnn-lstm-attention",
                                              "cnn-attention-lstm"}
    [single] = control.build_configs(control.LaunchRequest(tmp_path, weights="none"))
    assert (single.features.backbone, single.head.name) == (control.DEFAULT_BACKBONE,
                                                            control.DEFAULT_HEAD)
    with pytest.raises(ConfigError, match="unknown backbone vgg99"):
        control.chosen_names("vgg16,vgg99", ["vgg16"], "backbone")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        control.parse_options(["hidden"])


def test_model_checkpoint_prefers_the_selected_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"last")
    assert control.model_checkpoint(str(run)) == run / "checkpoint.pt"
    (run / "best.pt").write_bytes(b"best")
    assert control.model_checkpoint(str(run)) == run / "best.pt"
    assert control.model_checkpoint(str(run / "checkpoint.pt")) == run / "checkpoint.pt"
