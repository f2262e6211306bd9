"""Nothing lost, nothing stuck: run folders that hold the user's files, workers that die with their
parent alive, grids stopped half way, another program's database, a shared cache's lock file and
exports opened in a spreadsheet."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avc_tui import control
from avc_tui.cli import app
from avc_tui.registry import Registry, Status, now
from avc_tui.registry.store import _alive, _zombie
from avc_tui.runner.devices import Slot
from avc_tui.runner.scheduler import run_all

FAST = ["-b", "tinycnn", "--weights", "none", "--input-size", "64", "--workers", "0",
        "--normalize", "video", "--epochs", "2"]


def avc(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    assert fragment in lines[0], result.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_rm_files_deletes_only_what_the_run_wrote(easy_dataset: Path, tmp_path: Path) -> None:
    db, mine = tmp_path / "experiments.db", tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "precious.txt").write_text("x")
    before = _tree(mine)
    common = [easy_dataset, *FAST, "--db", db, "--cache-dir", tmp_path / "cache"]
    _one_error(avc("run", *common, "--out", mine), "is not empty")
    assert _tree(mine) == before
    with Registry(str(db)) as registry:
        assert registry.count() == 0  # refused before anything was registered

    assert avc("run", *common, "--out", mine / "run").exit_code == 0
    _one_error(avc("run", *common, "--out", mine / "run"), "run folder of experiment 1")
    (mine / "run" / "my-plot.png").write_bytes(b"mine")  # the user keeps a file beside the run
    assert avc("rm", "--files", "1", "--db", db).exit_code == 0
    assert _tree(mine) == {**before, "run/my-plot.png": b"mine"}
    with Registry(str(db)) as registry:
        assert registry.count() == 0


def test_a_zombie_and_a_stale_heartbeat_are_lost(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while not _zombie(child.pid):  # exited, not yet collected by its parent (us)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not _alive(child.pid)
    with Registry(str(tmp_path / "r.db")) as registry:
        from tests.conftest import _easy_config

        zombie = registry.create(_easy_config(tmp_path), runs_root=tmp_path / "runs")
        registry.mark_running(zombie.id, device="cpu", pid=child.pid)
        stale = registry.create(_easy_config(tmp_path), runs_root=tmp_path / "runs")
        registry.mark_running(stale.id, device="cpu")  # this process: alive, but silent
        registry.update(stale.id, heartbeat_at=now() - timedelta(minutes=5))
        assert sorted(registry.mark_lost()) == [zombie.id, stale.id]
    child.wait()


def test_a_worker_killed_under_a_live_parent_is_lost_then_resumes(
        easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    """The TUI starts workers through control.start_background and lives on."""
    options = control.WorkerOptions(0, tmp_path / "cache")
    with Registry(str(tmp_path / "r.db")) as registry:
        [row] = control.register(registry, [easy_config(easy_dataset, epochs=15)],
                                 runs_root=tmp_path / "runs")
        started = control.start_background(registry, row.id, options=options)
        deadline = time.monotonic() + 120
        while registry.get(row.id).epoch < 1:
            assert time.monotonic() < deadline, registry.get(row.id).error
            time.sleep(0.2)
        os.kill(started.pid, signal.SIGKILL)
        killed = time.monotonic()
        while row.id not in registry.mark_lost():
            assert time.monotonic() - killed < 10, "not lost within the heartbeat timeout"
            time.sleep(0.2)
        control.requeue_for_resume(registry, row.id)
        assert control.run_here(registry, row.id, resume=True, options=options) == Status.FINISHED
        assert registry.get(row.id).epoch == 15


class _Endless:
    """A job handle whose worker never ends by itself."""

    pid = 0

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.code = 130

    def ended(self) -> None:
        return None

    def wait(self, timeout: float | None = None) -> int:
        return self.code or 0


class _Executor:
    name = "endless"

    def submit(self, job) -> _Endless:
        return _Endless()


def test_a_stopped_grid_leaves_nothing_queued(tmp_path: Path) -> None:
    from tests.conftest import _easy_config

    with Registry(str(tmp_path / "r.db")) as registry:
        rows = control.register(registry, [_easy_config(tmp_path, seed=s) for s in range(3)],
                                runs_root=tmp_path / "runs")

        def stop(running: dict[int, str]) -> None:  # `kill PID` once the first job runs
            if running:
                os.kill(os.getpid(), signal.SIGTERM)

        schedule = run_all(registry, [r.id for r in rows], _Executor(),
                           [Slot("cpu", "cpu", {})], on_tick=stop, poll_seconds=0.05)
        assert schedule.interrupted and schedule.unstarted == [rows[1].id, rows[2].id]
        statuses = [registry.get(r.id).status for r in rows]
        assert Status.QUEUED not in statuses
        # One killed outright (kill -9) leaves queued rows: `avc resume` takes them.
        [orphan] = control.register(registry, [_easy_config(tmp_path, seed=9)],
                                    runs_root=tmp_path / "runs")
        assert control.requeue_for_resume(registry, orphan.id).status == Status.QUEUED


def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table notes (body text)")
        connection.execute("insert into notes values ('keep me')")
    before = path.read_bytes()
    _one_error(avc("ls", "--db", path), "is not an avc registry")
    assert path.read_bytes() == before


def test_a_lock_file_that_is_a_link_does_not_truncate_its_target(tmp_path: Path) -> None:
    from core.features import ExtractionSpec, FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    spec = ExtractionSpec.create("tinycnn", weights="none", input_size=32)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    cache.spec_dir(spec).mkdir(parents=True)
    (cache.spec_dir(spec) / ".lock").symlink_to(target)
    try:
        with cache.lock(spec):
            pass
    except OSError:
        pass  # refusing the link is as good as leaving it alone
    assert target.read_text() == "keep me"


def test_csv_exports_do_not_run_as_spreadsheet_formulas(easy_dataset: Path,
                                                         tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    with Registry(str(db)) as registry:
        from tests.conftest import _easy_config

        config = _easy_config(easy_dataset).with_changes(name='=HYPERLINK("http://x","y")')
        registry.create(config, runs_root=tmp_path / "runs")
    assert avc("export", tmp_path / "out", "--db", db).exit_code == 0
    text = (tmp_path / "out" / "experiments.csv").read_text()
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text


def test_two_identical_unreadable_videos_are_both_left_out(easy_dataset: Path,
                                                           tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("grow", "shrink"):
        (data / name).mkdir(parents=True)
        for video in sorted((easy_dataset / name).glob("*.mp4"))[:4]:
            (data / name / video.name).write_bytes(video.read_bytes())
        (data / name / "broken.mp4").write_bytes(b"not a video")  # the same bytes twice
    result = avc("run", data, *FAST, "--skip-unreadable", "--db", tmp_path / "r.db",
                 "--cache-dir", tmp_path / "cache", "--json")
    assert result.exit_code == 0, result.output
    import json

    assert len(json.loads(result.stdout)["unreadable"]) == 2


class _NotATensor:
    """Pickled by reference: loading it would mean importing and running this module's code."""


@pytest.mark.parametrize("content", [None, b"not a checkpoint", "pickle"])
def test_a_bad_weights_file_is_refused_before_anything_is_registered(
        easy_dataset: Path, tmp_path: Path, content) -> None:
    weights = tmp_path / "weights.pth"
    if content == "pickle":
        import torch

        torch.save({"model": _NotATensor()}, weights)  # an object: code to run on load
    elif content is not None:
        weights.write_bytes(content)
    db = tmp_path / "r.db"
    result = avc("run", easy_dataset, "-b", "tinycnn", "--weights", weights, "--db", db,
                 "--out", tmp_path / "run")
    _one_error(result, "weights")
    assert "weights_only=False" not in result.output
    assert not (tmp_path / "run").exists()
    with Registry(str(db)) as registry:
        assert registry.count() == 0


def test_a_server_that_never_answers_is_an_error_not_a_hang(monkeypatch) -> None:
    pytest.importorskip("psycopg")
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel accepts the connection; nothing ever answers it
    monkeypatch.setenv("AVC_DB_TIMEOUT", "2")
    started = time.monotonic()
    try:
        result = avc("ls", "--db", f"postgresql+psycopg://avc@127.0.0.1:{silent.getsockname()[1]}"
                                   "/registry")
    finally:
        silent.close()
    assert time.monotonic() - started < 20
    _one_error(result, "cannot open the registry")


def test_metric_writes_that_meet_a_locked_registry_are_kept_and_retried(
        tmp_path: Path, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    from avc_tui.registry import Point
    from avc_tui.runner.recorder import RegistryRecorder
    from tests.conftest import _easy_config

    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(_easy_config(tmp_path), runs_root=tmp_path / "runs")
        real = registry.add_points
        failures = iter([True, True])

        def locked_twice(experiment_id, points):
            if next(failures, False):
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            return real(experiment_id, points)

        monkeypatch.setattr(registry, "add_points", locked_twice)
        recorder = RegistryRecorder(registry, row.id)
        for step in range(3):
            recorder._add(Point(step, 1, "train", "step_loss", 1.0, now()))
            recorder.flush()  # the first two meet the lock: nothing raised, nothing lost
        assert [p.step for p in registry.points(row.id)] == [0, 1, 2]


def test_a_registry_half_created_by_another_process_is_not_foreign(tmp_path: Path) -> None:
    """SQLite commits each CREATE TABLE of a new registry before its schema revision: another
    avc process opening it in between sees avc's tables without a revision, not a stranger's."""
    from sqlalchemy import create_engine

    from avc_tui.registry.errors import RegistryError
    from avc_tui.registry.models import Base
    from avc_tui.registry.schema import refuse_foreign

    engine = create_engine(f"sqlite:///{tmp_path / 'half.db'}")
    Base.metadata.create_all(engine)  # the tables, no alembic_version yet
    refuse_foreign(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("create table notes (body text)")
    with pytest.raises(RegistryError, match=r"not an avc registry: it holds other tables"):
        refuse_foreign(engine)
    engine.dispose()


def test_the_statement_timeout_keeps_the_urls_own_server_options(monkeypatch) -> None:
    from avc_tui.registry.store import _server_timeouts

    monkeypatch.delenv("AVC_DB_TIMEOUT", raising=False)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    args = _server_timeouts("postgresql+psycopg://u@h/db?options=-csearch_path%3Davc")
    assert args["options"] == "-csearch_path=avc -c statement_timeout=30000"
    assert args["connect_timeout"] == 5
    assert "connect_timeout" not in _server_timeouts("postgresql+psycopg://u@h/db?connect_timeout=9")
    assert _server_timeouts("sqlite:///x.db") == {}


def test_a_worker_that_finds_its_experiment_taken_leaves_it_alone(tmp_path: Path) -> None:
    from avc_tui.runner.executor import EXIT_TAKEN
    from avc_tui.runner.scheduler import _settle
    from tests.conftest import _easy_config

    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(_easy_config(tmp_path), runs_root=tmp_path / "runs")
        registry.mark_running(row.id, device="cpu")  # the worker that won
        _settle(registry, row.id, EXIT_TAKEN)
        assert registry.get(row.id).status == Status.RUNNING
        _settle(registry, row.id, -9)
        assert registry.get(row.id).status == Status.LOST


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever reaps in this container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pidfds() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc")
@pytest.mark.skipif(not _pidfds(), reason="decoders watch their run through a pidfd (Linux 5.3+)")
def test_a_worker_killed_mid_extraction_leaves_no_decoder_behind(easy_dataset: Path,
                                                                 tmp_path: Path) -> None:
    """Decoding workers are children of the fork server, not of the run: they must still end."""
    run = subprocess.Popen(
        [sys.executable, "-m", "avc_tui", "extract", str(easy_dataset), "-b", "resnet50",
         "--weights", "none", "--workers", "2", "--cache-dir", str(tmp_path / "cache")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, decoders = time.monotonic() + 120, []
    while not decoders:  # the fork server and the workers it forked
        assert run.poll() is None and time.monotonic() < deadline, "extraction never started"
        servers = _children(run.pid)
        decoders = [w for s in servers for w in _children(s)]
        time.sleep(0.1)
    family = [*servers, *decoders]
    run.kill()
    run.wait()
    killed = time.monotonic()
    try:
        while [pid for pid in family if _running(pid)]:
            assert time.monotonic() - killed < 15, f"still running: {family}"
            time.sleep(0.2)
    finally:  # a failure must not leave them to the rest of the suite
        for pid in family:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_clips_of_one_frame_under_video_normalisation_are_warned_of(tmp_path: Path) -> None:
    """Centring a one-frame video over time leaves zeros: every such clip looks the same."""
    from core.data.synthetic import SyntheticSpec, write_synthetic_dataset

    data = tmp_path / "short"
    write_synthetic_dataset(data, SyntheticSpec(videos_per_class=4, seed=2, min_duration=1.0,
                                                max_duration=1.0, classes=("grow", "shrink")))
    db = tmp_path / "r.db"
    result = avc("run", data, *FAST, "--db", db, "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert "warning: 8 of 8 videos gave one frame" in " ".join(result.stdout.split())
    with Registry(str(db)) as registry:
        [row] = registry.list()
        assert "--normalize video" in row.result["warnings"][0]
    shown = avc("show", row.id, "--db", db)
    assert "warning:" in shown.stdout
    quiet = avc("run", data, *FAST[:-4], "--normalize", "dataset", "--epochs", "2", "--db", db,
                "--cache-dir", tmp_path / "cache")
    assert quiet.exit_code == 0 and "warning" not in quiet.stdout
