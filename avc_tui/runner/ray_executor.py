"""Jobs as Ray tasks: the same grid on a laptop (a local Ray instance), on a few workstations
(``ray start``) or on a cluster's allocation, behind the ``Executor`` / ``JobHandle`` protocols.

Each job is one task that starts the worker command on its node with that node's Python, polls it
and returns its exit status. Ray reserves the job's GPUs (a fraction of one with
``gpus_per_job < 1``) and sets ``CUDA_VISIBLE_DEVICES``; a CPU job gets it empty. Ahead of the
jobs, one extraction task per set of features (:func:`core.config.features_key`) fills the
feature cache; the jobs reading those features take as an argument the result of a small task
that waits for it, so Ray starts them, and reserves their GPUs, only once it has ended, and an
extraction that failed or was lost does not fail them (each then extracts what is missing).

A non-forced ``ray.cancel`` raises ``KeyboardInterrupt`` in the task between two polls: the task
stops the worker, which saves and records ``cancelled``. A task that dies (forced cancel, its
node lost) takes its worker with it (the worker watches the task's process) and the run is
marked ``lost`` with Ray's reason. Ray's own task retries are off: the scheduler retries lost
runs itself, resuming them from their last checkpoint and recording each attempt.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from avc_tui.registry import Status
from avc_tui.runner.devices import Slot
from avc_tui.runner.executor import Job
from core.errors import AvcError, ConfigError

log = logging.getLogger(__name__)
INSTALL_HINT = "install Ray with: pip install -e '.[ray]' (or pip install 'ray[default]>=2.9')"
TASK_POLL_SECONDS = 0.2
# How a task ends when it is cancelled before it starts its worker (130, like a cancelled run).
EXIT_CANCELLED = 130


def import_ray() -> Any:
    """The ``ray`` module; raises ``ConfigError`` saying what to install when it is missing."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--executor ray needs Ray, which is not installed",
                          hint=INSTALL_HINT) from exc
    return ray


def check_shared_registry(nodes: Sequence[Mapping[str, Any]], db_url: str) -> None:
    """Refuse a SQLite registry when the cluster's live nodes are on more than one host: SQLite's
    locks do not hold across machines (several Ray nodes on one host may share it). Raises
    ``ConfigError``."""
    hosts = {n.get("NodeManagerAddress") for n in nodes if n.get("Alive", n.get("alive"))}
    if len(hosts) > 1 and db_url.startswith("sqlite"):
        raise ConfigError(f"the Ray cluster spans {len(hosts)} hosts, and a SQLite registry "
                          "cannot be shared between hosts",
                          hint="pass --db postgresql+psycopg://USER:PASSWORD@HOST/DB (or set "
                               "AVC_DB_URL), a registry that every node reaches")


def run_task(job: Job, after: object = None) -> int:
    """The body of every avc Ray task: run ``job``'s worker command on this node and return its
    exit status. ``after``: the extraction the job waited for (Ray resolves it first)."""
    import ray

    if not job.log.parent.is_dir():
        node = ray.get_runtime_context().get_node_id()
        raise AvcError(f"the run folder {job.log.parent} is not on Ray node {node[:12]}",
                       hint="put the run folders ($AVC_RUNS_DIR) and the feature cache "
                            "(--cache-dir) on storage every node sees")
    env = {**os.environ, **job.slot.env, "AVC_EXECUTOR": "ray",
           "AVC_NODE_ID": ray.get_runtime_context().get_node_id(),
           "AVC_EXIT_WITH": str(os.getpid())}
    if not ray.get_gpu_ids():
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job must not pick a GPU by itself
    # The CPUs Ray gave the task: the worker's threads and its decoding workers follow them.
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if cpus:
        env["OMP_NUM_THREADS"] = env["AVC_CPUS"] = str(max(1, int(cpus)))
    process = None
    try:
        with open(job.log, "ab") as out:
            process = subprocess.Popen(job.command(), stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, env=env)
        # Short sleeps, never one long blocking wait: a non-forced cancel lands between them.
        while (code := process.poll()) is None:
            time.sleep(TASK_POLL_SECONDS)
        return code
    except KeyboardInterrupt:  # ray.cancel: the worker saves, records `cancelled` and exits
        if process is None:
            raise
        process.terminate()
        return process.wait()
    finally:
        # Ray reuses its worker processes: a worker left running would outlive this task.
        if process is not None and process.poll() is None:
            process.kill()


def settled(extraction: list[Any]) -> int | None:
    """The body of the task that jobs wait on instead of their extraction itself: it ends when
    the extraction ends, however it ends (a failed or lost extraction would otherwise fail every
    job that takes its result). ``extraction`` holds the extraction's reference in a list, so
    that Ray hands it over unresolved."""
    import ray

    try:
        return ray.get(extraction[0])
    except ray.exceptions.RayError:
        return None  # each job extracts what is missing itself


class RayHandle:
    """A job running as a Ray task."""

    def __init__(self, job: Job, ref: Any, ray: Any) -> None:
        self.job, self.ref, self._ray = job, ref, ray
        self._code: int | None = None
        self._ended: tuple[str, str] | None = None

    def poll(self) -> int | None:
        if self._code is None:
            ready, _ = self._ray.wait([self.ref], timeout=0)
            if ready:
                self._settle()
        return self._code

    def ended(self) -> tuple[str, str] | None:
        return self._ended

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"ray task of experiment "
                                                f"{self.job.experiment_id}", timeout or 0)
            time.sleep(0.1)
        return self._code  # type: ignore[return-value]

    def terminate(self) -> None:
        """Ask the task to stop its worker (which saves and records ``cancelled``)."""
        if self._code is None:
            self._ray.cancel(self.ref, force=False)

    def _settle(self) -> None:
        exceptions = self._ray.exceptions
        try:
            self._code = int(self._ray.get(self.ref))
        except exceptions.TaskCancelledError:
            self._code = EXIT_CANCELLED
            self._ended = (Status.CANCELLED, "cancelled before its worker started")
        except exceptions.RayTaskError as error:  # the task itself raised (not the worker)
            self._code = 1
            cause = getattr(error, "cause", None)
            if isinstance(cause, AvcError):
                text = cause.message + (f"\nhint: {cause.hint}" if cause.hint else "")
            else:
                text = str(error)
            self._ended = (Status.FAILED, text)
        except exceptions.RayError as error:  # node died, worker crashed or killed, owner gone
            self._code = -1
            self._ended = (Status.LOST, f"{type(error).__name__}: {_first_sentence(error)}")


def _first_sentence(error: BaseException) -> str:
    """Ray's account of a failure, up to its first full stop (what follows is advice on where
    to look in Ray's logs)."""
    text = " ".join(str(error).split())
    end = text.find(". ")
    return (text[:end + 1] if end > 0 else text)[:300]


class RayExecutor:
    """Starts each job as a Ray task (see the module's docstring).

    ``address``: ``None`` starts a local Ray instance (or joins the one ``$RAY_ADDRESS`` names),
    ``auto`` or ``HOST:PORT`` joins a running cluster. ``gpus_per_job``: GPUs each job reserves
    (fractions share one GPU; default one when the cluster has GPUs, else none);
    ``cpus_per_job``: CPUs each job and each extraction reserves. Raises ``ConfigError`` when
    Ray is missing or the registry cannot be shared across the cluster.
    """

    name = "ray"

    def __init__(self, *, db_url: str, address: str | None = None,
                 gpus_per_job: float | None = None, cpus_per_job: float = 1.0) -> None:
        self.ray = import_ray()
        if not self.ray.is_initialized():
            _init_keeping_sigterm(self.ray, address)
        try:
            nodes, resources = self.ray.nodes(), self.ray.cluster_resources()
        except Exception as exc:  # noqa: BLE001 - whatever Ray raises, the user gets one line
            raise ConfigError(f"cannot read the Ray cluster's nodes: {_first_sentence(exc)}",
                              hint="`ray status` on the head node tells what is wrong") from exc
        check_shared_registry(nodes, db_url)
        if gpus_per_job is None:
            gpus_per_job = 1.0 if resources.get("GPU", 0) else 0.0
        self.gpus_per_job, self.cpus_per_job = gpus_per_job, cpus_per_job
        self._task = self.ray.remote(run_task)
        self._settled = self.ray.remote(settled).options(num_cpus=0, max_retries=0)
        self._extractions: dict[str, Any] = {}

    @property
    def device(self) -> str:
        """The device a job's worker uses: the GPU Ray gives it (seen as ``cuda:0``), or the
        CPU."""
        return "cuda:0" if self.gpus_per_job > 0 else "cpu"

    def slots(self, count: int) -> list[Slot]:
        """``count`` slots: Ray decides where and when each job runs, so the scheduler hands
        it every job at once."""
        return [Slot(f"ray#{i}", self.device, {}) for i in range(count)]

    def submit(self, job: Job) -> RayHandle:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        after = None
        if job.features is not None and not job.resume:
            after = self._extraction(job)
        ref = self._task.options(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                                 max_retries=0, name=f"avc-{job.experiment_id}"
                                 ).remote(job, after)
        return RayHandle(job, ref, self.ray)

    def _extraction(self, job: Job) -> Any:
        """What the jobs on ``job``'s features wait for: the end of their extraction task,
        started the first time they are asked for. It uses one whole GPU when jobs use GPUs
        (decoding and the CNN are the heavy part)."""
        key = job.features
        if key not in self._extractions:
            log_file = job.log.parent.parent / f"extract-{key[:12]}.log"
            task = replace(job, log=log_file, extract_only=True, resume=False)
            extraction = self._task.options(
                num_cpus=self.cpus_per_job, num_gpus=1 if self.gpus_per_job > 0 else 0,
                max_retries=0, name=f"avc-extract-{key[:12]}").remote(task, None)
            self._extractions[key] = self._settled.remote([extraction])
            log.info("extraction task %s started; its jobs wait for it", key[:12])
        return self._extractions[key]


def _init_keeping_sigterm(ray: Any, address: str | None) -> None:
    """``ray.init``, then avc's SIGTERM handler again: Ray installs its own, and a stopped
    driver must cancel its tasks gracefully (runs end ``cancelled``, not ``lost``)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - whatever Ray raises, the user gets one line
        where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
        raise ConfigError(f"cannot start or reach Ray ({where}): {_first_sentence(exc)}",
                          hint="check --address (`ray status` on the head node tells it), or "
                               "leave it out to start Ray on this machine") from exc
    if main and previous is not None:
        signal.signal(signal.SIGTERM, previous)
