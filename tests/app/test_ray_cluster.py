"""A node dies mid-training on a three-node Ray cluster (one host): the run is lost, retried on
a surviving node from its last checkpoint, and finishes; both attempts are recorded with their
node. On the CI's PostgreSQL registry too when ``AVC_TEST_PG_URL`` names one. Skipped without
Ray."""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path

import pytest

# CI installs Ray for these tests and sets AVC_REQUIRE_RAY: there a missing Ray fails them.
ray = __import__("ray") if os.environ.get("AVC_REQUIRE_RAY") else pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from avc_tui.registry import Registry, Status  # noqa: E402
from avc_tui.runner.ray_executor import RayExecutor  # noqa: E402
from avc_tui.runner.scheduler import run_all  # noqa: E402
from tests.app.waiting import wait_until  # noqa: E402

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]


@pytest.fixture
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def _registries(tmp_path: Path) -> list[str]:
    urls = [str(tmp_path / "r.db")]
    if os.environ.get("AVC_TEST_PG_URL"):
        urls.append(os.environ["AVC_TEST_PG_URL"])
    return urls


_wait_for = functools.partial(wait_until, timeout=180.0)


def _resumed_epochs(registry: Registry, experiment_id: int) -> bool:
    """Whether a second attempt has finished an epoch."""
    attempts = registry.attempts(experiment_id)
    return len(attempts) == 2 and any(
        p.time >= attempts[1].started_at for p in registry.points(experiment_id, key="acc"))


def test_a_dead_node_s_run_is_retried_on_a_survivor(cluster, easy_dataset: Path, easy_config,
                                                    tmp_path: Path) -> None:
    cluster, nodes = cluster
    for url in _registries(tmp_path):
        with Registry(url) as registry:
            row = registry.create(easy_config(easy_dataset, epochs=30),
                                  runs_root=tmp_path / "runs")
            executor = RayExecutor(db_url=registry.url, address=cluster.address, gpus_per_job=0)
            result = {}

            def drive(registry=registry, row=row, executor=executor) -> None:
                result["schedule"] = run_all(
                    registry, [row.id], executor, executor.slots(1), retries=1,
                    poll_seconds=0.1, options=["--workers", "0", "--cache-dir",
                                               str(tmp_path / "cache")])

            driver = threading.Thread(target=drive)
            driver.start()
            _wait_for(lambda: registry.get(row.id).epoch >= 3)
            running = registry.get(row.id)
            [victim] = [n for n in nodes if n.node_id == running.node_id and n in
                        cluster.worker_nodes]
            died = time.monotonic()
            cluster.remove_node(victim, allow_graceful=False)
            _wait_for(lambda: registry.attempts(row.id)[0].status == Status.LOST)
            lost_after = time.monotonic() - died
            _wait_for(lambda: _resumed_epochs(registry, row.id))
            resumed_after = time.monotonic() - died
            driver.join(timeout=300)
            assert not driver.is_alive()
            done = registry.get(row.id)
            assert done.status == Status.FINISHED, done.error
            first, second = registry.attempts(row.id)
            assert first.status == Status.LOST and first.node_id == victim.node_id
            assert first.reason
            assert second.status == Status.FINISHED and second.node_id != victim.node_id
            val_acc = [p.epoch for p in registry.points(row.id, key="acc") if p.split == "val"]
            assert sorted(val_acc) == list(range(1, 31))
            print(f"\n{registry.url.split(':')[0]}: lost {lost_after:.1f} s after the node died "
                  f"({first.reason}); resumed attempt's first epoch after {resumed_after:.1f} s")
            registry.delete(row.id)
            nodes = [n for n in nodes if n is not victim]
            nodes.append(cluster.add_node(num_cpus=1))
            cluster.wait_for_nodes()
