"""The registry: round trips, filters, schema migrations, concurrent writers, lost runs, bad
databases. Runs on SQLite, and on PostgreSQL too when ``AVC_TEST_PG_URL`` names a server."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from avc_tui.registry import Point, Registry, RegistryError, now
from avc_tui.registry.models import Base
from avc_tui.registry.schema import HEAD, head_revision, upgrade
from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig

PG_URL = os.environ.get("AVC_TEST_PG_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in [t.name for t in reversed(Base.metadata.sorted_tables)]:
            connection.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'experiments.db'}"
    if not PG_URL:
        pytest.skip("set AVC_TEST_PG_URL to run the registry tests on PostgreSQL")
    _reset_postgres(PG_URL)
    return PG_URL


def config(backbone: str = "tinycnn", head: str = "cnn-lstm", seed: int = 0,
           root: str = "/data/ucf") -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(root), features=FeatureConfig(backbone, weights="none", input_size=32),
        head=HeadConfig(head), train=TrainConfig("abdn", epochs=3, seed=seed), tags=("t",))


def test_round_trip(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        row = registry.create(config(), runs_root=tmp_path / "runs", tags=["extra"])
        assert row.id == 1 and row.status == "queued"
        assert row.run_dir == str(tmp_path / "runs" / "0001-tinycnn-cnn-lstm")
        again = registry.get(row.id)
        assert again.config_hash == config().hash()
        assert registry.config(row.id) == config()
        assert again.tags == ["extra", "t"] and again.dataset == "ucf"
        registry.mark_running(row.id, device="cpu")
        assert registry.get(row.id).status == "running"
        assert registry.heartbeat(row.id, epoch=2) is False
        registry.finish(row.id, "finished", result={"test": {"top1": 0.5, "top5": 1.0,
                                                             "loss": 0.7}, "epochs_run": 3})
        done = registry.get(row.id)
        assert (done.status, done.test_top1, done.epoch) == ("finished", 0.5, 3)
        assert done.finished_at >= done.started_at


def test_filters_and_sorting(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        for backbone, head in (("vgg16", "cnn-lstm"), ("resnet50", "cnn-lstm"),
                               ("vgg16", "cnn-attention-lstm")):
            registry.create(config(backbone, head), runs_root=tmp_path)
        registry.finish(2, "finished", result={"test": {"top1": 0.9}})
        registry.finish(3, "finished", result={"test": {"top1": 0.4}})
        assert [r.id for r in registry.list(backbone="vgg16")] == [1, 3]
        assert [r.id for r in registry.list(status="finished")] == [2, 3]
        assert [r.id for r in registry.list(head="cnn-lstm", status="queued")] == [1]
        assert [r.id for r in registry.list(status="finished", sort="test_top1",
                                            descending=True)] == [2, 3]
        assert [r.id for r in registry.list(tag="t", limit=2)] == [1, 2]
        assert registry.list(tag="nope") == []
        with pytest.raises(RegistryError, match="cannot sort by"):
            registry.list(sort="nonsense")
        with pytest.raises(RegistryError, match="no experiment 42"):
            registry.get(42)


def test_points_batches_polling_and_resume(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        a = registry.create(config(), runs_root=tmp_path).id
        b = registry.create(config(seed=1), runs_root=tmp_path).id
        stamp = now()
        assert registry.add_points(a, [Point(i, 1 + i // 10, "train", "loss", i / 10, stamp)
                                       for i in range(30)]) == 30
        registry.add_points(b, [Point(0, 1, "val", "acc", 0.5, stamp)])
        first = registry.points(a, limit=10)
        assert [p.step for p in first] == list(range(10))
        newer = registry.points(a, after_id=first[-1].id)
        assert [p.step for p in newer] == list(range(10, 30))
        assert registry.points(a, after_id=newer[-1].id) == []
        assert [p.key for p in registry.points(b)] == ["acc"]
        # A resumed run repeats the epochs after its checkpoint: their old points go.
        assert registry.drop_points_after(a, 2) == 10
        assert max(p.epoch for p in registry.points(a)) == 2


def test_artifacts_predictions_and_delete(url: str, tmp_path: Path) -> None:
    file = tmp_path / "checkpoint.pt"
    file.write_bytes(b"x" * 1000)
    with Registry(url) as registry:
        e = registry.create(config(), runs_root=tmp_path).id
        registry.add_artifact(e, "checkpoint", file)
        registry.add_artifact(e, "checkpoint", file)  # refreshed, not doubled
        [artifact] = registry.artifacts(e)
        assert artifact.size == 1000 and len(artifact.sha256) == 64
        registry.add_prediction(e, {"video": "a.mp4", "top": [{"class": "grow",
                                                               "probability": 0.9}]})
        assert registry.predictions(e)[0].label == "grow"
        registry.add_points(e, [Point(1, 1, "train", "loss", 1.0, now())])
        registry.delete(e)
        assert registry.count() == 0
        assert registry.points(e) == [] and registry.artifacts(e) == []
        assert registry.predictions(e) == []


def test_an_id_is_never_given_to_a_second_experiment(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        first, newest = (registry.create(config(), runs_root=tmp_path).id for _ in range(2))
        registry.delete(newest)
        again = registry.create(config(), runs_root=tmp_path).id
        assert again > newest > first
        registry.delete(again)
        registry.delete(first)
    with Registry(url) as registry:  # nor after reopening an emptied registry
        latest = registry.create(config(), runs_root=tmp_path).id
        assert latest > again
        with registry.session() as s, s.begin():  # rows imported past the counter
            s.execute(text("INSERT INTO experiments (id, name, status, config, config_hash, "
                           "dataset, split, backbone, head, preset, seed, tags, run_dir, "
                           "created_at, versions, epoch, cancel_requested) VALUES (:i, 'x', "
                           "'finished', '{}', 'h', 'd', 'abdn', 'b', 'h', 'abdn', 0, '[]', "
                           "'/r', '2026-01-01 00:00:00', '{}', 0, false)"),
                      {"i": latest + 10})
        assert registry.create(config(), runs_root=tmp_path).id == latest + 11


def test_groups_count_their_experiments_by_status(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        group = registry.create_group("g", axes={"seed": [0, 1]})
        rows = [registry.create(config(seed=s), runs_root=tmp_path, group_id=group.id,
                                axes={"seed": s}) for s in (0, 1)]
        registry.create(config(), runs_root=tmp_path)  # in no group
        registry.finish(rows[0].id, "finished", result={"test": {"top1": 0.5, "top5": 1.0}})
        [(listed, counts)] = registry.groups()
        assert (listed.name, listed.axes, counts) == ("g", {"seed": [0, 1]},
                                                      {"finished": 1, "queued": 1})
        assert [r.axes for r in registry.list(group=group.id)] == [{"seed": 0}, {"seed": 1}]
        [result] = registry.results(group=group.id)
        assert result["cell"] == registry.config(rows[1].id).cell()
        assert registry.create_group("h").id > group.id
        with pytest.raises(RegistryError, match="no group 99"):
            registry.group(99)


def test_cancel_requests(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        queued = registry.create(config(), runs_root=tmp_path).id
        running = registry.create(config(seed=2), runs_root=tmp_path).id
        registry.mark_running(running, device="cpu")
        registry.request_cancel(queued)
        assert registry.get(queued).status == "cancelled"
        registry.request_cancel(running)
        assert registry.heartbeat(running) is True  # the worker learns it at its next beat
        registry.finish(running, "cancelled")
        assert registry.requeue(running)  # resumed: queued, then running afresh
        assert registry.mark_running(running, device="cpu")
        assert registry.heartbeat(running) is False
        # A cancel that lands first wins: the worker finds its run no longer queued.
        late = registry.create(config(seed=5), runs_root=tmp_path).id
        registry.request_cancel(late)
        assert registry.mark_running(late, device="cpu") is False
        assert registry.get(late).status == "cancelled"
        assert registry.requeue(queued) and not registry.requeue(queued)


def test_a_dead_worker_is_lost(url: str, tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with Registry(url) as registry:
        dead = registry.create(config(), runs_root=tmp_path).id
        stale = registry.create(config(seed=1), runs_root=tmp_path).id
        alive = registry.create(config(seed=2), runs_root=tmp_path).id
        registry.mark_running(dead, device="cpu", pid=process.pid)
        registry.mark_running(stale, device="cpu")
        registry.update(stale, host="elsewhere", heartbeat_at=now() - timedelta(minutes=5))
        registry.mark_running(alive, device="cpu")
        assert sorted(registry.mark_lost()) == [dead, stale]
        assert registry.get(alive).status == "running"
        assert registry.get(dead).finished_at is not None  # so dashboards see the change
        # A run taken for lost whose worker speaks again is running again.
        registry.update(alive, status="lost")
        registry.heartbeat(alive)
        assert registry.get(alive).status == "running"


def test_non_finite_values_are_not_stored(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        e = registry.create(config(), runs_root=tmp_path).id
        assert registry.add_points(e, [Point(1, 1, "train", "loss", float("nan"), now()),
                                       Point(2, 1, "train", "loss", 0.5, now())]) == 1
        registry.finish(e, "finished", result={"test": {"top1": 0.5, "loss": float("nan")}})
        assert registry.get(e).result["test"]["loss"] is None


def test_old_schema_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO experiments (name, status, config, config_hash, dataset, split, "
            "backbone, head, preset, seed, tags, run_dir, created_at, versions, epoch) VALUES "
            "('old', 'finished', '{}', 'h', 'ucf', 'abdn', 'vgg16', 'cnn-lstm', 'abdn', 0, '[]', "
            "'/runs/1', '2026-01-01 00:00:00', '{}', 60)"))
    assert "predictions" not in inspect(engine).get_table_names()
    engine.dispose()
    with Registry(url) as registry:
        row = registry.get(1)
        assert (row.name, row.epoch, row.cancel_requested) == ("old", 60, False)
        registry.add_prediction(1, {"video": "v.mp4", "top": [{"class": "a",
                                                               "probability": 1.0}]})
        assert registry.create(config(), runs_root=tmp_path).id == 2  # after the old ones
    with sqlite3.connect(tmp_path / "old.db") as connection:
        [(version,)] = connection.execute("SELECT version_num FROM alembic_version")
    assert version == head_revision()


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Registry(str(path)).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(RegistryError, match="newer avc"):
        Registry(str(path))
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == \
            ("9999",)


def test_bad_databases_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="not a usable registry database"):
        Registry(str(junk))
    assert junk.read_bytes() == b"this is not a database" * 100
    with pytest.raises(RegistryError, match="no registry at"):
        Registry(str(tmp_path / "missing.db"), create=False)
    with pytest.raises(RegistryError, match="cannot"):
        Registry("postgresql://avc@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(RegistryError, match="is not a folder"):
        Registry(str(tmp_path / "no" / "such" / "dir.db"))


def test_the_known_head_is_the_newest_migration() -> None:
    assert HEAD == head_revision()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    Registry(str(tmp_path / "r.db")).close()
    with sqlite3.connect(tmp_path / "r.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _writer(url: str, experiment_id: int, batches: int, per_batch: int) -> None:
    with Registry(url) as registry:
        for b in range(batches):
            registry.add_points(experiment_id, [Point(b * per_batch + i, b, "train", "loss",
                                                      float(i), now())
                                                for i in range(per_batch)])
            registry.heartbeat(experiment_id, epoch=b)


def test_concurrent_writers_and_a_reader_lose_nothing(url: str, tmp_path: Path) -> None:
    with Registry(url) as registry:
        ids = [registry.create(config(seed=i), runs_root=tmp_path).id for i in range(4)]
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(url, i, 40, 50)) for i in ids]
    for w in writers:
        w.start()
    seen = {i: 0 for i in ids}
    last = {i: 0 for i in ids}
    with Registry(url) as reader:
        while any(w.is_alive() for w in writers):
            for i in ids:
                new = reader.points(i, after_id=last[i])
                if new:
                    last[i] = new[-1].id
                    seen[i] += len(new)
            time.sleep(0.01)
        for w in writers:
            w.join()
            assert w.exitcode == 0
        for i in ids:
            seen[i] += len(reader.points(i, after_id=last[i]))
    assert seen == {i: 2000 for i in ids}
