"""Shared fixtures: where the real clips and annotation files of ../shared/data live."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    override = os.environ.get("AVC_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


# Times are shown in local time: the snapshots and the tests read them in UTC wherever they run.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session", autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory):
    """Keep every test away from the user's registry, feature cache and run folders."""
    state = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("AVC_DB_URL", "AVC_CACHE_DIR", "AVC_RUNS_DIR")}
    os.environ["AVC_DB_URL"] = f"sqlite:///{state / 'experiments.db'}"
    os.environ["AVC_CACHE_DIR"] = str(state / "cache")
    os.environ["AVC_RUNS_DIR"] = str(state / "runs")
    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test data (videos/, annotations/); CI always has it beside the checkout."""
    path = _shared_data_dir()
    if not (path / "videos").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real test data not found at {path} (set AVC_SHARED_DATA)")
        pytest.skip(f"real test data not found at {path} (set AVC_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def real_videos(shared_data: Path) -> list[Path]:
    """Every real dataset clip (not the edge cases)."""
    return sorted(p for p in (shared_data / "videos").iterdir() if p.is_file())


EASY_CLASSES = ("move_left", "move_right", "grow", "shrink")


@pytest.fixture(scope="session")
def easy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset of four easy motion classes, written once per test session."""
    from core.data.synthetic import SyntheticSpec, write_synthetic_dataset

    root = tmp_path_factory.mktemp("easy") / "data"
    spec = SyntheticSpec(videos_per_class=20, seed=1, min_duration=3.0, max_duration=6.0,
                         classes=EASY_CLASSES)
    write_synthetic_dataset(root, spec)
    return root


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight short synthetic videos of two classes: for tests that run many jobs, not learn."""
    from core.data.synthetic import SyntheticSpec, write_synthetic_dataset

    root = tmp_path_factory.mktemp("small") / "data"
    spec = SyntheticSpec(videos_per_class=4, seed=2, min_duration=2.0, max_duration=3.0,
                         classes=EASY_CLASSES[:2])
    write_synthetic_dataset(root, spec)
    return root


def _easy_config(root: Path, head: str = "cnn-lstm", **train):
    from avc_tui.control import LaunchRequest, build_configs

    [config] = build_configs(LaunchRequest(
        root, backbones=("tinycnn",), heads=(head,), weights="none", input_size=64,
        normalize="video", **{"epochs": 12, "batch_size": 8, **train}))
    return config


@pytest.fixture(scope="session")
def easy_config():
    """A factory: ``easy_config(root, head="cnn-lstm", **train_overrides)`` → a fast config."""
    return _easy_config
