"""The Ray executor on one local Ray instance (2 CPUs, 4 GPUs that Ray believes in): GPU pinning
and fractional packing, one extraction per set of features ahead of its heads, graceful and
forced cancels, a worker's exception, retries that resume. Skipped without Ray (the CI installs
it for these tests alone: `pip install -e '.[ray]'`)."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

# CI installs Ray for these tests and sets AVC_REQUIRE_RAY: there a missing Ray fails them.
ray = __import__("ray") if os.environ.get("AVC_REQUIRE_RAY") else pytest.importorskip("ray")

from avc_tui import control  # noqa: E402
from avc_tui.registry import Registry  # noqa: E402
from avc_tui.runner.devices import Slot  # noqa: E402
from avc_tui.runner.executor import Job  # noqa: E402
from avc_tui.runner.ray_executor import RayExecutor  # noqa: E402
from avc_tui.runner.scheduler import run_all  # noqa: E402
from core.config import features_key  # noqa: E402
from tests.app.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")

# Each stand-in job prints the GPUs it was given and when it started and ended.
STAND_IN = ("import os, sys, time; print('start', time.time(), "
            "'gpus=' + str(os.environ.get('CUDA_VISIBLE_DEVICES')), flush=True); "
            "time.sleep(float(sys.argv[1])); print('end', time.time(), flush=True)")


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=4, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def _stand_in_job(tmp_path: Path, i: int, seconds: float) -> Job:
    """A job whose worker is the stand-in above (the class is local, so Ray ships it by value
    to its workers)."""

    class StandIn(Job):
        def command(self) -> list[str]:
            return [sys.executable, "-c", STAND_IN, str(self.options[0])]

    return StandIn(i, "sqlite://", Slot("ray", "cuda:0", {}), tmp_path / f"job{i}" / "log",
                   options=[str(seconds)])


def _read(job: Job) -> tuple[float, str, float]:
    lines = job.log.read_text().split("\n")
    _, started, gpus = lines[0].split()
    return float(started), gpus.removeprefix("gpus="), float(lines[1].split()[1])


def _wait(handles, timeout: float = 120.0) -> list[int]:
    return [h.wait(timeout=timeout) for h in handles]


def test_each_job_gets_its_own_gpu_and_the_fifth_waits(local_ray, tmp_path: Path) -> None:
    executor = RayExecutor(db_url="sqlite://", gpus_per_job=1, cpus_per_job=0.25)
    jobs = [_stand_in_job(tmp_path, i, 2.5) for i in range(5)]
    assert _wait([executor.submit(j) for j in jobs]) == [0] * 5
    runs = sorted(_read(j) for j in jobs)
    first_four, fifth = runs[:4], runs[4]
    assert sorted(gpus for _, gpus, _ in first_four) == ["0", "1", "2", "3"]
    assert fifth[0] >= min(end for _, _, end in first_four), "the fifth waited for a free GPU"


def test_four_quarter_jobs_share_one_gpu(local_ray, tmp_path: Path) -> None:
    executor = RayExecutor(db_url="sqlite://", gpus_per_job=0.25, cpus_per_job=0.25)
    # Long enough that four Ray workers start before the first ends on a loaded machine.
    jobs = [_stand_in_job(tmp_path, i, 8) for i in range(4)]
    assert _wait([executor.submit(j) for j in jobs]) == [0] * 4
    runs = [_read(j) for j in jobs]
    assert len({gpus for _, gpus, _ in runs}) == 1, "packed onto one device"
    assert max(s for s, _, _ in runs) < min(e for _, _, e in runs), "all four ran at once"


def test_a_data_parallel_job_gets_two_gpus(local_ray, tmp_path: Path) -> None:
    """--gpus-per-job 2 (for --processes 2): each task reserves two GPUs and sees both."""
    executor = RayExecutor(db_url="sqlite://", gpus_per_job=2, cpus_per_job=0.25)
    jobs = [_stand_in_job(tmp_path, i, 2.5) for i in range(2)]
    assert _wait([executor.submit(j) for j in jobs]) == [0] * 2
    seen = [_read(j)[1].split(",") for j in jobs]
    assert all(len(gpus) == 2 for gpus in seen)
    assert sorted(g for gpus in seen for g in gpus) == ["0", "1", "2", "3"]


def test_a_cpu_job_sees_no_gpu(local_ray, tmp_path: Path) -> None:
    executor = RayExecutor(db_url="sqlite://", gpus_per_job=0, cpus_per_job=1)
    assert executor.device == "cpu"
    job = _stand_in_job(tmp_path, 0, 0)
    assert executor.submit(job).wait(timeout=60) == 0
    assert _read(job)[1] == "", "CUDA_VISIBLE_DEVICES is set, and empty"


def test_a_lost_extraction_does_not_fail_the_jobs_waiting_for_it(local_ray,
                                                                  tmp_path: Path) -> None:
    """The extraction task's worker process is killed: the jobs of those features still run
    (each would extract what is missing itself)."""

    class DiesWhenExtracting(Job):
        def command(self) -> list[str]:
            if self.extract_only:  # kill the Ray worker running the extraction task
                return [sys.executable, "-c", "import os, signal; "
                        "os.kill(os.getppid(), signal.SIGKILL)"]
            return [sys.executable, "-c", STAND_IN, "0"]

    executor = RayExecutor(db_url="sqlite://", gpus_per_job=0, cpus_per_job=0.5)
    jobs = [DiesWhenExtracting(i, "sqlite://", Slot("ray", "cpu", {}),
                               tmp_path / "runs" / f"job{i}" / "log", features="k" * 64)
            for i in range(2)]
    assert _wait([executor.submit(j) for j in jobs]) == [0, 0]
    assert all("end" in j.log.read_text() for j in jobs)


def _options(tmp_path: Path) -> list[str]:
    return ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]


def _cpu_executor() -> RayExecutor:
    return RayExecutor(db_url="sqlite://", gpus_per_job=0, cpus_per_job=1)


def _utc(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)


def test_a_grid_extracts_each_backbone_once_before_its_heads(local_ray, small_dataset: Path,
                                                             easy_config, tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        rows = []
        for size in (48, 64):  # two sets of features, each read by two heads
            for head in ("cnn-lstm", "cnn-lstm-attention"):
                config = easy_config(small_dataset, head, epochs=2)
                config = config.with_changes(features={"input_size": size})
                rows.append(registry.create(config, runs_root=tmp_path / "runs"))
        executor = _cpu_executor()
        schedule = run_all(registry, [r.id for r in rows], executor,
                           executor.slots(len(rows)), options=_options(tmp_path),
                           poll_seconds=0.1)
        assert schedule.exit_codes == {r.id: 0 for r in rows}
        logs = sorted((tmp_path / "runs").glob("extract-*.log"))
        assert len(logs) == 2, "one extraction task per set of features"
        videos = len(list(small_dataset.rglob("*.mp4")))
        for log in logs:
            assert f": {videos} extracted, 0 already cached" in log.read_text()
        for row in rows:
            assert not registry.points(row.id, key="videos_done"), "the head extracted nothing"
            [attempt] = registry.attempts(row.id)
            assert attempt.executor == "ray" and attempt.node_id
            assert attempt.status == "finished"
            own = tmp_path / "runs" / f"extract-{features_key(row.config)[:12]}.log"
            assert attempt.started_at >= _utc(own), "it started after its own extraction"


def _run_in_thread(registry: Registry, ids, executor, tmp_path: Path, **kwargs):
    result: dict = {}
    submitted: list = []

    class Recording:
        name = executor.name

        def submit(self, job):
            handle = executor.submit(job)
            submitted.append(handle)
            return handle

    def drive() -> None:
        result["schedule"] = run_all(registry, ids, Recording(), executor.slots(len(ids)),
                                     options=_options(tmp_path), poll_seconds=0.1, **kwargs)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    return thread, result, submitted


_wait_for = functools.partial(wait_until, timeout=300.0)


def test_cancel_then_resume_keeps_the_history(local_ray, easy_dataset: Path, easy_config,
                                              tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(easy_dataset, epochs=30), runs_root=tmp_path / "runs")
        thread, result, handles = _run_in_thread(registry, [row.id], _cpu_executor(), tmp_path)
        _wait_for(lambda: registry.get(row.id).epoch >= 2)
        control.cancel(registry, row.id)  # `avc cancel`: through the registry, on any node
        thread.join(timeout=300)
        cancelled = registry.get(row.id)
        assert cancelled.status == "cancelled", cancelled.error
        assert (Path(cancelled.run_dir) / "checkpoint.pt").is_file()
        schedule = run_all(registry, [row.id], _cpu_executor(), [Slot("ray", "cpu", {})],
                           options=_options(tmp_path), resume=True, poll_seconds=0.1)
        assert schedule.exit_codes == {row.id: 0}
        done = registry.get(row.id)
        assert done.status == "finished" and done.epoch == 30
        val_acc = [p.epoch for p in registry.points(row.id, key="acc") if p.split == "val"]
        assert sorted(val_acc) == list(range(1, 31)), "every epoch once, none lost or doubled"
        assert [(a.number, a.status) for a in registry.attempts(row.id)] == [
            (1, "cancelled"), (2, "finished")]


@pytest.mark.parametrize("how", ["forced cancel", "worker killed"])
def test_a_run_lost_on_ray_is_retried_and_resumed(local_ray, easy_dataset: Path, easy_config,
                                                  tmp_path: Path, how: str) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(easy_dataset, epochs=30), runs_root=tmp_path / "runs")
        thread, result, handles = _run_in_thread(registry, [row.id], _cpu_executor(), tmp_path,
                                                 retries=1)
        _wait_for(lambda: registry.get(row.id).epoch >= 3)
        if how == "forced cancel":
            ray.cancel(handles[0].ref, force=True)
        else:
            os.kill(registry.get(row.id).pid, signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
        done = registry.get(row.id)
        assert done.status == "finished", done.error
        first, second = registry.attempts(row.id)
        assert first.status == "lost" and first.reason
        assert second.status == "finished" and done.attempt == 2
        val_acc = [p.epoch for p in registry.points(row.id, key="acc") if p.split == "val"]
        assert sorted(val_acc) == list(range(1, 31))


def test_a_worker_exception_fails_the_run_with_its_traceback(local_ray, small_dataset: Path,
                                                             easy_config, tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(small_dataset, epochs=1), runs_root=tmp_path / "runs")
        (Path(row.run_dir) / "config.json").mkdir(parents=True)  # the run cannot write it
        executor = _cpu_executor()
        schedule = run_all(registry, [row.id], executor, executor.slots(1),
                           options=_options(tmp_path), poll_seconds=0.1)
        assert schedule.exit_codes == {row.id: 1}
        failed = registry.get(row.id)
        assert failed.status == "failed"
        assert "Traceback" in failed.error and "IsADirectoryError" in failed.error
        [attempt] = registry.attempts(row.id)
        assert attempt.status == "failed" and "IsADirectoryError" in attempt.reason


def test_stopping_a_detached_driver_cancels_its_runs(local_ray, small_dataset: Path,
                                                     easy_config, tmp_path: Path) -> None:
    """`avc grid --detach --executor ray` runs its driver in a process of its own; a SIGTERM to
    it (what `kill` or a cluster's scheduler sends) cancels every task gracefully: the running
    runs save and end `cancelled`, the one still waiting for a CPU too, none `lost`."""
    from avc_tui.control import Execution
    from avc_tui.runner.batch import start_batch

    with Registry(str(tmp_path / "r.db")) as registry:
        rows = [registry.create(easy_config(small_dataset, epochs=5000),
                                runs_root=tmp_path / "runs") for _ in range(3)]
        address = ray.get_runtime_context().gcs_address  # the driver joins this instance
        driver = start_batch(registry.url, [r.id for r in rows], tmp_path / "batch.log",
                             options=_options(tmp_path),
                             execution=Execution("ray", address, 0, 1, 0))
        _wait_for(lambda: sum(registry.get(r.id).epoch >= 1 for r in rows) == 2)
        driver.send_signal(signal.SIGTERM)
        _wait_for(lambda: driver.poll() is not None)
        statuses = sorted(registry.get(r.id).status for r in rows)
        assert statuses == ["cancelled"] * 3, (tmp_path / "batch.log").read_text()
        started = [r for r in rows if registry.get(r.id).epoch >= 1]
        assert all((Path(r.run_dir) / "checkpoint.pt").is_file() for r in started)
