"""A run's record carries the decoders' FFmpeg versions next to its package versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from avc_tui.registry import Registry
from avc_tui.versions import package_versions
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig


def test_package_versions_include_the_decoders_ffmpeg_libraries() -> None:
    pytest.importorskip("av")
    pytest.importorskip("decord")
    versions = package_versions()
    decoders = {"av ffmpeg", "av libraries", "decord libraries"}
    assert {"torch", "av", "decord"} | decoders <= set(versions)
    assert all(isinstance(value, str) and value for value in versions.values())
    assert "libavcodec" in versions["av libraries"] and "libavcodec" in versions["decord libraries"]


def test_a_running_experiment_records_them(tmp_path: Path) -> None:
    pytest.importorskip("av")
    config = ExperimentConfig(
        data=DataConfig(str(tmp_path / "data")),
        features=FeatureConfig("tinycnn", weights="none", input_size=32),
        head=HeadConfig("cnn-lstm"), train=TrainConfig("abdn", epochs=1))
    with Registry(f"sqlite:///{tmp_path / 'experiments.db'}") as registry:
        row = registry.create(config, runs_root=tmp_path / "runs")
        registry.mark_running(row.id, device="cpu", versions=package_versions())
        recorded = registry.get(row.id).versions
    assert recorded["av libraries"] == package_versions()["av libraries"]
