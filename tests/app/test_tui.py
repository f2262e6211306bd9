"""The Textual UI, headless (``App.run_test`` and a Pilot): every screen and key binding,
an empty registry, failed and lost runs, small terminals, and a real worker streaming."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, DirectoryTree, Static

from avc_tui.registry import Registry
from avc_tui.runner.executor import Job, LocalExecutor
from avc_tui.runner.job import execute
from avc_tui.tui.app import AvcApp
from avc_tui.tui.screens.compare import CompareScreen
from avc_tui.tui.screens.dashboard import DashboardScreen
from avc_tui.tui.screens.experiment import ExperimentScreen
from avc_tui.tui.screens.launch import LaunchScreen
from avc_tui.tui.screens.predict import PredictScreen
from avc_tui.tui.widgets.chart import Chart
from tests.app.test_runner import CPU
from tests.app.waiting import dashboard_loaded, wait_for


def run(scenario, db: str, size=(120, 40)):
    async def main():
        app = AvcApp(db)
        async with app.run_test(size=size) as pilot:
            await dashboard_loaded(pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def text(widget: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


@pytest.fixture(scope="module")
def registry_with_runs(easy_dataset: Path, easy_config, tmp_path_factory) -> str:
    """A registry with one finished (trained) run, one failed, one lost, one running."""
    folder = tmp_path_factory.mktemp("tui")
    db = str(folder / "experiments.db")
    with Registry(db) as registry:
        done = registry.create(easy_config(easy_dataset, "cnn-lstm-attention", epochs=3),
                               runs_root=folder / "runs")
        assert execute(registry, done.id, num_workers=0,
                       cache_dir=str(folder / "cache")) == "finished"
        failed = registry.create(easy_config(easy_dataset, seed=1), runs_root=folder / "runs")
        registry.finish(failed.id, "failed", error="Traceback (most recent call last):\n"
                                                  "RuntimeError: out of memory")
        lost = registry.create(easy_config(easy_dataset, seed=2), runs_root=folder / "runs")
        registry.update(lost.id, status="lost", epoch=4, epochs=12)
        running = registry.create(easy_config(easy_dataset, seed=3), runs_root=folder / "runs")
        registry.mark_running(running.id, device="cpu")
        registry.update(running.id, host="another-host", pid=None, epoch=2, epochs=12)
    return db


def test_an_empty_registry_says_how_to_start(tmp_path: Path) -> None:
    async def scenario(app, pilot):
        assert app.screen.query_one("#empty").display
        assert "avc demo" in text(app.screen.query_one("#empty", Static))
        assert not app.screen.query_one(DataTable).display

    run(scenario, str(tmp_path / "empty.db"))


def test_dashboard_filter_sort_and_help(registry_with_runs: str) -> None:
    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        assert table.row_count == 4
        statuses = {str(table.get_cell(k, "status")) for k in table.rows}
        assert statuses == {"finished", "failed", "lost", "running"}
        assert str(table.get_cell("1", "best")) != "—"
        await pilot.press("slash", *"failed")
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 4)
        await pilot.press("s")
        assert "sorted by id ↑" in text(app.screen.query_one("#summary", Static))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))

    run(scenario, registry_with_runs)


def test_experiment_screen_shows_results_and_errors(registry_with_runs: str) -> None:
    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("1"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentScreen)
                    and app.screen.detail is not None)
        screen = app.screen
        assert screen.query_one("#confusion").display
        assert "Test: top-1" in text(screen.query_one("#metrics", Static))
        assert screen.query_one("#loss-chart", Chart).point_count == 6  # 3 epochs × train/val
        assert screen.query_one("#artifacts").display
        assert not screen.query_one("#error").display
        await pilot.press("escape")
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("2"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentScreen)
                    and app.screen.detail is not None)
        assert "out of memory" in text(app.screen.query_one("#error", Static))

    run(scenario, registry_with_runs)


def test_cancel_resume_and_delete_keys(registry_with_runs: str, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(registry_with_runs).read_bytes())

    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("4"))
        await pilot.press("x")
        await wait_for(pilot, lambda: app.registry.get(4).cancel_requested, "the cancel request")
        table.move_cursor(row=table.get_row_index("1"))
        await pilot.press("r")  # finished: refused with a notification, nothing changes
        await wait_for(pilot, lambda: app._notifications, "the refusal's notification")
        assert app.registry.get(1).status == "finished"
        table.move_cursor(row=table.get_row_index("2"))
        await pilot.press("d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.registry.count() == 4
        await pilot.press("d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count == 3)
        assert app.registry.count() == 3

    run(scenario, str(copy))


def test_compare_screen(registry_with_runs: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario(app, pilot):
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                    and app.screen.table_data is not None)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and "tinycnn" in str(table.get_cell_at((0, 0)))
        app.screen.query_one("#paper").value = "ucf101"
        # The paper's five backbones, ours (tinycnn) and its 3D CNN baseline row.
        await wait_for(pilot, lambda: table.row_count == 7)
        assert any("paper 94.5" in str(table.get_cell_at((r, 2))) for r in range(7))
        await pilot.press("e")
        await wait_for(pilot, lambda: (tmp_path / "avc-compare.csv").exists())
        assert "VGG16" in (tmp_path / "avc-compare.csv").read_text()

    run(scenario, registry_with_runs)


def test_predict_screen(registry_with_runs: str, easy_dataset: Path) -> None:
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]

    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("1"))
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PredictScreen))
        screen = app.screen
        assert screen.query_one("#experiment").value == "1"
        screen.query_one("#video").value = str(video.parent / "missing.mp4")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "missing.mp4" in text(screen.query_one("#predict-error")))
        screen.query_one("#video").value = str(video)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "attention" in text(screen.query_one("#answer")),
                       "the prediction", timeout=60)
        assert text(screen.query_one("#predict-error")).strip() == ""
        assert app.registry.predictions(1)
        frames = screen.query_one("#frames")
        await wait_for(pilot, lambda: frames.display and "▀" in text(frames), "the frames")
        assert "most-attended frames" in text(frames) and "weight" in text(frames)
        recent = screen.query_one("#recent")
        await wait_for(pilot, lambda: str(video) in [v for _, v in recent._options],
                       "the video among the recent ones")
        # The tree shows folders and videos only, and a file picked there is the video.
        tree = screen.query_one("#tree")
        hidden, notes = video.parent / ".cache", video.with_suffix(".txt")
        assert list(tree.filter_paths([video, notes, video.parent, hidden])) == [
            video, video.parent]
        screen.query_one("#video").value = ""
        tree.post_message(DirectoryTree.FileSelected(tree.root, video))
        await wait_for(pilot, lambda: screen.query_one("#video").value == str(video))

    run(scenario, registry_with_runs)


def test_launch_validates_then_starts(registry_with_runs: str, easy_dataset: Path,
                                      tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(registry_with_runs).read_bytes())
    monkeypatch.chdir(tmp_path)

    async def scenario(app, pilot):
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen)
                    and len(app.screen.query_one("#backbones").options) > 5)
        screen = app.screen
        screen.query_one("#layout").value = "youtube8m"  # it brings its own features
        await wait_for(pilot, lambda: screen.query_one("#backbones").selected == ["yt8m"])
        screen.query_one("#layout").value = "folders"
        screen.query_one("#root").value = str(tmp_path / "nowhere")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "nowhere" in text(screen.query_one("#form-error")))
        assert app.registry.count() == 4  # nothing registered
        screen.query_one("#root").value = str(easy_dataset)
        screen.query_one("#epochs").value = "0"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "at least 1" in text(screen.query_one("#form-error")))
        screen.query_one("#epochs").value = "1"
        screen.query_one("#gpus-per-job").value = "2.5"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not a share" in text(screen.query_one("#form-error")))
        screen.query_one("#gpus-per-job").value = ""
        screen.query_one("#executor").value = "ray"
        monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "needs Ray" in text(screen.query_one("#form-error")))
        assert "pip install" in text(screen.query_one("#form-error"))
        assert app.registry.count() == 4  # nothing registered
        screen.query_one("#executor").value = "local"
        screen.query_one("#processes").value = "2"  # data-parallel: streamed youtube8m only
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "data-parallel" in text(screen.query_one("#form-error")))
        screen.query_one("#processes").value = ""
        screen.query_one("#weights").value = "none"
        screen.query_one("#input-size").value = "64"
        screen.query_one("#normalize").value = "video"
        screen.query_one("#precision").value = "fp32"
        backbones = screen.query_one("#backbones")
        backbones.deselect_all()
        backbones.select("tinycnn")
        heads = screen.query_one("#heads")
        heads.deselect_all()
        heads.select("cnn-lstm")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await wait_for(pilot, lambda: "5" in app.screen.query_one(DataTable).rows, 10)
        await wait_for(pilot, lambda: app.registry.get(5).status == "finished", 120)
        config = app.registry.get(5).config
        assert config["features"]["precision"] == config["train"]["precision"] == "fp32"

    run(scenario, str(copy))


def test_small_terminal_and_light_theme(registry_with_runs: str) -> None:
    async def scenario(app, pilot):
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentScreen))
        await pilot.press("escape", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))

    run(scenario, registry_with_runs, size=(80, 24))


def test_curves_grow_while_a_real_worker_streams(easy_dataset: Path, easy_config,
                                                  tmp_path: Path) -> None:
    db = str(tmp_path / "live.db")
    with Registry(db) as registry:
        row = registry.create(easy_config(easy_dataset, epochs=60), runs_root=tmp_path / "runs")
    handle = LocalExecutor().submit(Job(row.id, f"sqlite:///{db}", CPU,
                                        Path(row.run_dir) / "worker.log",
                                        options=["--workers", "0", "--cache-dir",
                                                 str(tmp_path / "cache")]))

    async def scenario(app, pilot):
        await wait_for(pilot, lambda: "1" in app.screen.query_one(DataTable).rows)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentScreen))
        chart = app.screen.query_one("#loss-chart", Chart)
        await wait_for(pilot, lambda: chart.point_count >= 2, 120)
        seen = chart.point_count
        await wait_for(pilot, lambda: chart.point_count >= seen + 4, 60)  # no key pressed
        app.cancel_experiment(row.id)

    try:
        run(scenario, db)
    finally:
        handle.terminate()
        handle.wait(timeout=60)


def test_a_group_folds_into_one_row_that_opens_cancels_and_deletes_as_one(
        easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    from avc_tui import control

    db = str(tmp_path / "groups.db")
    planned = control.Planned([easy_config(easy_dataset, seed=s) for s in range(3)],
                              [{"seed": s} for s in range(3)], {"seed": [0, 1, 2]})
    with Registry(db) as registry:
        group, rows = control.register_group(registry, planned, name="three seeds")
        registry.finish(rows[0].id, "finished", result={"test": {"top1": 0.5, "top5": 1.0}})
        registry.update(rows[0].id, test_top1=0.5)
        alone = registry.create(easy_config(easy_dataset), runs_root=tmp_path / "runs").id

    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        assert table.row_count == 4
        await pilot.press("g")
        await wait_for(pilot, lambda: table.row_count == 2, "the group folded")
        key = f"g{group.id}"
        assert {k.value for k in table.rows} == {key, str(alone)}
        assert str(table.get_cell(key, "progress")) == "1/3 done"
        assert str(table.get_cell(key, "id")) == f"G{group.id}"
        assert str(table.get_cell(key, "status")) == "queued"
        table.move_cursor(row=table.get_row_index(key))
        await pilot.press("x")  # cancels the group's two queued runs
        await wait_for(pilot, lambda: str(table.get_cell(key, "status")) == "cancelled",
                       "the group cancelled")
        await pilot.press("enter")  # unfolds it: its runs only
        await wait_for(pilot, lambda: table.row_count == 3, "the group unfolded")
        assert {k.value for k in table.rows} == {str(r.id) for r in rows}
        await pilot.press("escape", "g")
        await wait_for(pilot, lambda: table.row_count == 2, "folded again")
        table.move_cursor(row=table.get_row_index(key))
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: table.row_count == 1, "the group deleted")
        with Registry(db) as registry:
            assert [r.id for r in registry.list()] == [alone] and registry.groups() == []

    run(scenario, db)


def test_marked_runs_side_by_side_overlay_their_curves_and_differ_in_config(
        easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    from avc_tui.registry import Point, now
    from avc_tui.tui.data import load_runs
    from avc_tui.tui.screens.runs import RunsScreen

    db = str(tmp_path / "runs.db")
    with Registry(db) as registry:
        ids = []
        for seed, accuracy in ((0, 0.5), (1, 0.7)):
            row = registry.create(easy_config(easy_dataset, seed=seed),
                                  runs_root=tmp_path / "runs")
            registry.add_points(row.id, [Point(e, e, "val", "acc", accuracy + e / 10, now())
                                         for e in (1, 2)])
            ids.append(row.id)
        other = registry.create(easy_config(easy_dataset, "cnn-lstm-attention", lr=0.01),
                                runs_root=tmp_path / "runs").id
        view = load_runs(registry, [*ids, other])
    [trials] = [name for name in view.series if name.endswith("×2 mean")]
    assert view.series[trials] == [(1, pytest.approx(0.7)), (2, pytest.approx(0.8))]
    assert view.series[trials.replace("mean", "min")][0] == (1, pytest.approx(0.6))
    assert view.series[trials.replace("mean", "max")][0] == (1, pytest.approx(0.8))
    fields = dict(view.differences)
    assert fields["train.seed"] == ["0", "1", "0"] and "head.name" in fields
    assert "train.epochs" not in fields, "only what differs"

    async def scenario(app, pilot):
        table = app.screen.query_one(DataTable)
        await pilot.press("v")  # nothing marked: a hint, no screen
        assert isinstance(app.screen, DashboardScreen)
        table.move_cursor(row=table.get_row_index(str(ids[1])))
        await pilot.press("space", "space")  # marks ids[1] and the next row down, ids[0]
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), "the runs view")
        diff = app.screen.query_one("#diff", DataTable)
        await wait_for(pilot, lambda: diff.row_count == 1, "the config diff")
        assert str(diff.get_cell("train.seed", str(ids[0]))) == "0"
        chart = app.screen.query_one("#runs-chart", Chart)
        assert chart.point_count == 6  # mean, min and max of two epochs
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "back")

    run(scenario, db)
