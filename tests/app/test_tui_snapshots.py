"""Snapshot tests of every TUI screen at 100 × 30 on a fixed registry (pytest-textual-snapshot).
After an intended change of the screens, refresh them with ``pytest --snapshot-update``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from avc_tui.registry import Point, Registry
from avc_tui.tui.app import AvcApp
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from tests.app.waiting import dashboard_loaded, wait_for, wait_until_still

SIZE = (100, 30)
START = datetime(2026, 11, 1, 12, 0, 0)


def _config(backbone: str, head: str) -> ExperimentConfig:
    return ExperimentConfig(data=DataConfig("/data/ucf101"),
                            features=FeatureConfig(backbone, weights="none"),
                            head=HeadConfig(head), train=TrainConfig("abdn", epochs=60))


@pytest.fixture()
def fixed_registry(tmp_path: Path) -> str:
    """Four ended experiments with fixed times, results and an error: nothing moves."""
    db = str(tmp_path / "experiments.db")
    with Registry(db) as registry:
        cells = [("vgg16", "cnn-lstm", 0.91), ("vgg19", "cnn-lstm-attention", 0.958),
                 ("resnet50", "cnn-attention-lstm", None), ("xception", "cnn-lstm", None)]
        for i, (backbone, head, top1) in enumerate(cells):
            row = registry.create(_config(backbone, head), run_dir=f"/runs/{i + 1}")
            times = dict(created_at=START, started_at=START,
                         finished_at=START.replace(hour=13, minute=i), heartbeat_at=START,
                         epoch=60, epochs=60, host="lab", pid=100 + i, device="cpu")
            if top1 is not None:
                registry.update(row.id, status="finished", test_top1=top1, test_top5=1.0,
                                test_loss=0.3, result={
                                    "classes": ["archery", "bowling"],
                                    "test": {"top1": top1, "top5": 1.0, "loss": 0.3,
                                             "per_class": [1.0, 0.8],
                                             "confusion": [[5, 0], [1, 4]]}}, **times)
            elif backbone == "resnet50":
                registry.update(row.id, status="failed", error="RuntimeError: out of memory",
                                **times)
            else:
                registry.update(row.id, status="lost", **{**times, "epoch": 12})
        # The CPU and memory figures of a real run recorded on the project's 2-core machine.
        registry.add_points(2, [Point(step, 1, "system", key, value, START)
                                for step, cpu, rss in REAL_RUN
                                for key, value in (("cpu_percent", cpu), ("rss_mb", rss))])
    return db


REAL_RUN = [(5, 34.6, 1282.9), (10, 61.6, 2057.8), (15, 48.3, 1424.4), (20, 67.0, 1557.2),
            (25, 62.5, 1599.4), (30, 75.3, 1558.9), (35, 66.7, 1516.7), (40, 62.3, 1498.2),
            (45, 52.3, 1558.9), (50, 51.8, 1599.4), (55, 43.0, 1606.8), (60, 39.4, 1533.5),
            (65, 64.3, 1614.5), (70, 66.3, 1557.2), (72, 59.2, 1404.1)]


def _app(db: str) -> AvcApp:
    app = AvcApp(db)
    app.sub_title = "experiments.db"  # not the temporary folder's path
    return app


async def _still(pilot) -> None:
    """No blinking cursor, nothing still loading: what a snapshot shows must not depend on when
    it is taken."""
    from textual.widgets import Input

    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await wait_until_still(pilot)


async def _loaded(pilot) -> None:
    await dashboard_loaded(pilot)
    pilot.app.sub_title = "experiments.db"
    await wait_until_still(pilot)


def test_dashboard(snap_compare, fixed_registry: str) -> None:
    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=_loaded)


def test_empty_dashboard(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(_app(str(tmp_path / "empty.db")), terminal_size=SIZE,
                        run_before=_loaded)


def test_experiment_screen(snap_compare, fixed_registry: str) -> None:
    async def open_second(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "detail", None) is not None,
                       "the experiment's details")
        await wait_until_still(pilot)

    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=open_second)


def test_experiment_screen_with_system_figures(snap_compare, fixed_registry: str) -> None:
    async def open_third(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "detail", None) is not None,
                       "the experiment's details")
        await wait_until_still(pilot)

    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=open_third)


def test_compare_screen_with_paper_numbers(snap_compare, fixed_registry: str) -> None:
    async def compare(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "table_data", None) is not None,
                       "the comparison table")
        pilot.app.screen.query_one("#paper").value = "ucf101"
        await wait_until_still(pilot)

    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=compare)


def test_launch_screen(snap_compare, fixed_registry: str) -> None:
    async def launch(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: len(pilot.app.screen.query_one("#backbones").options),
                       "the backbone choices")
        await _still(pilot)

    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=launch)


def test_predict_screen(snap_compare, fixed_registry: str, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The file tree shows the working folder: a fixed one, with videos and other files.
    folder = tmp_path / "clips"
    for name in ("archery/a1.mp4", "archery/notes.txt", "bowling/b1.avi", "readme.md"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    monkeypatch.chdir(folder)

    async def predict(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "PredictScreen",
                       "the predict screen")
        tree = pilot.app.screen.query_one("#tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 2, "the folder's tree")
        await _still(pilot)

    assert snap_compare(_app(fixed_registry), terminal_size=SIZE, run_before=predict)


def _frames() -> np.ndarray:
    """Four 48 × 64 test pictures: colour ramps, a disc, stripes and a checkerboard."""
    y, x = np.mgrid[0:48, 0:64]
    ramp = np.stack([x * 4, y * 5, 255 - x * 4], -1)
    disc = np.where(((x - 32) ** 2 + (y - 24) ** 2 < 300)[..., None], [250, 200, 40], [20, 30, 90])
    stripes = np.stack([(x // 8 % 2) * 230, (y // 6 % 2) * 180, np.full_like(x, 60)], -1)
    checks = ((x // 16 + y // 12) % 2)[..., None] * np.array([240, 240, 240])
    return np.stack([ramp, disc, stripes, checks]).clip(0, 255).astype(np.uint8)


def test_half_block_thumbnails(snap_compare) -> None:
    """The most-attended frames as the predict screen shows them (any terminal: half blocks)."""
    from textual.app import App
    from textual.widgets import Static

    from avc_tui.tui.widgets.thumbnails import thumbnail_strip

    class Strip(App):
        def compose(self):
            yield Static(thumbnail_strip(_frames(), [0.0, 1.0, 2.0, 3.0], [0.1, 0.5, 0.15, 0.25]))

    assert snap_compare(Strip(), terminal_size=(90, 14))
