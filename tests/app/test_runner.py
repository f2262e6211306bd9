"""The job runner: device slots, real worker processes that are killed, cancelled and resumed,
failures stored, and a grid whose parallel jobs share one extraction per backbone."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import pytest

from avc_tui.registry import Registry
from avc_tui.runner.devices import Slot, plan_slots
from avc_tui.runner.executor import Job, LocalExecutor
from avc_tui.runner.job import execute
from avc_tui.runner.scheduler import run_all
from core.errors import ConfigError
from tests.app.waiting import wait_until

CPU = Slot("cpu", "cpu", {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})


def test_one_job_per_gpu() -> None:
    slots = plan_slots(["cuda:0", "cuda:1"])
    assert [(s.name, s.device, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == [
        ("cuda:0", "cuda:0", "0"), ("cuda:1", "cuda:0", "1")]
    shared = plan_slots(["cuda:0", "cuda:1"], 3)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in shared] == ["0", "1", "0"]
    assert len({s.name for s in shared}) == 3


def test_cpu_jobs_split_the_cores() -> None:
    [one] = plan_slots(["cpu"], cores=8)
    assert (one.device, one.env["OMP_NUM_THREADS"], one.env["CUDA_VISIBLE_DEVICES"]) == \
        ("cpu", "8", "")
    two = plan_slots(["cpu"], 2, cores=8)
    assert [s.env["OMP_NUM_THREADS"] for s in two] == ["4", "4"]
    assert plan_slots(["cpu"], 4, cores=2)[0].env["OMP_NUM_THREADS"] == "1"
    assert [s.env["AVC_CPUS"] for s in two] == ["4", "4"]


def test_jobs_sharing_gpus_share_the_cpus_and_decode_with_their_share(monkeypatch) -> None:
    from core.features import available_cpus, default_workers

    shared = plan_slots(["cuda:0", "cuda:1"], 4, cores=16)
    assert [s.env["OMP_NUM_THREADS"] for s in shared] == ["4"] * 4
    assert [s.env["AVC_CPUS"] for s in shared] == ["4"] * 4
    monkeypatch.setenv("AVC_CPUS", "4")
    assert available_cpus() == 4
    assert default_workers("cuda") == 3  # every CPU but the one feeding the GPU
    assert default_workers("cpu") == 2  # half: the CNN needs the others
    monkeypatch.setenv("AVC_CPUS", "2")
    assert (default_workers("cuda"), default_workers("cpu")) == (1, 0)  # decoding in process
    monkeypatch.setenv("AVC_CPUS", "32")
    assert (default_workers("cuda"), default_workers("cpu")) == (31, 4)
    monkeypatch.delenv("AVC_CPUS")
    assert available_cpus() >= 1


_wait_for = functools.partial(wait_until, timeout=120.0)


def _register(registry: Registry, easy_config, easy_dataset: Path, tmp_path: Path,
              head: str = "cnn-lstm", **train):
    return registry.create(easy_config(easy_dataset, head, **train),
                           runs_root=tmp_path / "runs")


def _submit(registry: Registry, row, tmp_path: Path, *, resume: bool = False):
    options = ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    return LocalExecutor().submit(Job(row.id, registry.url, CPU, Path(row.run_dir) / "worker.log",
                                      resume=resume, options=options))


def test_kill_9_then_resume_completes_with_history_intact(easy_dataset: Path, easy_config,
                                                          tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = _register(registry, easy_config, easy_dataset, tmp_path, epochs=40)
        handle = _submit(registry, row, tmp_path)
        _wait_for(lambda: registry.get(row.id).epoch >= 3)
        os.kill(handle.pid, signal.SIGKILL)
        handle.wait()
        before = {(p.epoch, p.key) for p in registry.points(row.id) if p.split == "val"}
        assert before, "epochs committed before the kill are in the registry"
        assert registry.mark_lost() == [row.id]
        assert registry.get(row.id).status == "lost"

        assert registry.requeue(row.id)  # what `avc resume` does first
        status = execute(registry, row.id, resume=True, num_workers=0,
                         cache_dir=str(tmp_path / "cache"))
        assert status == "finished", registry.get(row.id).error
        done = registry.get(row.id)
        assert done.status == "finished" and done.epoch == 40 and done.test_top1 is not None
        val_acc = [p.epoch for p in registry.points(row.id, key="acc") if p.split == "val"]
        assert sorted(val_acc) == list(range(1, 41)), "every epoch once, none lost or doubled"
        speed = registry.points(row.id, key="frames_per_second")
        assert len(speed) == 1, "the resumed attempt found every video cached: no new point"
        kinds = {a.kind for a in registry.artifacts(row.id)}
        assert {"config", "checkpoint", "metrics", "result", "log"} <= kinds


def test_sigterm_cancels_after_saving(easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = _register(registry, easy_config, easy_dataset, tmp_path, epochs=200)
        handle = _submit(registry, row, tmp_path)
        _wait_for(lambda: registry.get(row.id).epoch >= 2)
        registry.request_cancel(row.id)  # seen at the next heartbeat / flush
        assert handle.wait(timeout=60) == 130
        cancelled = registry.get(row.id)
        assert cancelled.status == "cancelled"
        assert (Path(cancelled.run_dir) / "checkpoint.pt").is_file()


def test_a_failure_is_stored(easy_dataset: Path, easy_config, tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        row = registry.create(easy_config(tmp_path / "gone"), runs_root=tmp_path / "runs")
        handle = _submit(registry, row, tmp_path)
        assert handle.wait(timeout=60) == 1
        failed = registry.get(row.id)
        assert failed.status == "failed" and "gone" in failed.error


def test_grid_jobs_in_parallel_share_one_extraction(easy_dataset: Path, easy_config,
                                                    tmp_path: Path) -> None:
    with Registry(str(tmp_path / "r.db")) as registry:
        rows = [_register(registry, easy_config, easy_dataset, tmp_path, head=h, epochs=2)
                for h in ("cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm")]
        slots = [Slot(f"cpu#{i}", "cpu", {"OMP_NUM_THREADS": "1"}) for i in range(2)]
        seen: set[int] = set()
        schedule = run_all(registry, [r.id for r in rows], LocalExecutor(), slots,
                           options=["--workers", "0", "--cache-dir", str(tmp_path / "cache")],
                           on_tick=lambda running: seen.update([len(running)]),
                           poll_seconds=0.1)
        assert schedule.exit_codes == {r.id: 0 for r in rows}
        assert max(seen) == 2, "two jobs ran at once"
        extracted = sum(len([p for p in registry.points(r.id) if p.key == "videos_done"])
                        for r in rows)
        assert extracted == 80, "each video extracted once across all jobs"
        assert all(registry.get(r.id).status == "finished" for r in rows)


@pytest.mark.parametrize("code", [-9, 3])
def test_a_worker_that_dies_silently_is_lost(tmp_path: Path, easy_config, easy_dataset: Path,
                                             code: int) -> None:
    class Dead:
        def __init__(self, job):
            self.job, self.pid = job, 0

        def poll(self):
            return code

        def wait(self, timeout=None):
            return code

        def ended(self):
            return None

        def terminate(self):
            pass

    class DeadExecutor:
        name = "dead"

        def submit(self, job):
            return Dead(job)

    with Registry(str(tmp_path / "r.db")) as registry:
        row = _register(registry, easy_config, easy_dataset, tmp_path)
        run_all(registry, [row.id], DeadExecutor(), [CPU], poll_seconds=0)
        lost = registry.get(row.id)
        assert lost.status == "lost" and str(code) in lost.error


def test_a_fraction_of_a_gpu_puts_several_jobs_on_each() -> None:
    slots = plan_slots(["cuda:0", "cuda:1"], gpus_per_job=0.25)
    assert len(slots) == 8
    devices = [s.env["CUDA_VISIBLE_DEVICES"] for s in slots]
    assert devices.count("0") == devices.count("1") == 4
    assert devices[:2] == ["0", "1"], "the first jobs spread over the GPUs"
    assert len({s.name for s in slots}) == 8
    assert len(plan_slots(["cuda:0"], gpus_per_job=1 / 3)) == 3
    pairs = plan_slots(["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:4"], gpus_per_job=2)
    assert [slot.env["CUDA_VISIBLE_DEVICES"] for slot in pairs] == ["0,1", "2,3"]
    assert [slot.name for slot in pairs] == ["cuda:0+cuda:1", "cuda:2+cuda:3"]
    assert all(slot.device == "cuda:0" for slot in pairs)  # rank r takes cuda:r of its own
    with pytest.raises(ConfigError, match="needs 2 GPUs"):
        plan_slots(["cuda:0"], gpus_per_job=2)
    assert len(plan_slots(["cpu"], gpus_per_job=0.25)) == 1, "no GPU: the CPU slots as before"


def test_a_lost_run_is_retried_from_its_checkpoint(easy_dataset: Path, easy_config,
                                                   tmp_path: Path) -> None:
    """--retries: a worker killed mid-training is lost, queued again and resumed; each start
    is an attempt with how it ended."""
    import threading

    with Registry(str(tmp_path / "r.db")) as registry:
        row = _register(registry, easy_config, easy_dataset, tmp_path, epochs=30)
        result = {}

        def drive() -> None:
            result["schedule"] = run_all(
                registry, [row.id], LocalExecutor(), [CPU], retries=1, poll_seconds=0.1,
                options=["--workers", "0", "--cache-dir", str(tmp_path / "cache")])

        driver = threading.Thread(target=drive)
        driver.start()
        _wait_for(lambda: registry.get(row.id).epoch >= 3)
        os.kill(registry.get(row.id).pid, signal.SIGKILL)
        driver.join(timeout=300)
        assert not driver.is_alive()
        assert result["schedule"].retried == {row.id: 1}
        done = registry.get(row.id)
        assert done.status == "finished", done.error
        assert done.attempt == 2
        first, second = registry.attempts(row.id)
        assert (first.number, first.status, first.executor) == (1, "lost", "local")
        assert "status -9" in first.reason
        assert (second.number, second.status, second.reason) == (2, "finished", None)
        assert first.ended_at <= second.started_at
        val_acc = [p.epoch for p in registry.points(row.id, key="acc") if p.split == "val"]
        assert sorted(val_acc) == list(range(1, 31)), "resumed: every epoch once"


def test_a_job_its_executor_cannot_start_fails_alone(tmp_path: Path, easy_config,
                                                     easy_dataset: Path) -> None:
    class Refusing:
        name = "refusing"

        def submit(self, job):
            raise OSError("no such device")

    with Registry(str(tmp_path / "r.db")) as registry:
        rows = [_register(registry, easy_config, easy_dataset, tmp_path) for _ in range(2)]
        schedule = run_all(registry, [r.id for r in rows], Refusing(), [CPU], poll_seconds=0)
        assert schedule.exit_codes == {r.id: 1 for r in rows}
        for row in rows:
            failed = registry.get(row.id)
            assert failed.status == "failed"
            assert failed.error == "its executor could not start it: no such device"
