"""Experiments into an MLflow tracking store: one MLflow run per avc experiment, with the config
as params, the whole metric history (steps and timestamps kept), the test metrics, the run
folder's files as artifacts, avc's facts as tags and the status and times of the experiment.

Exporting an experiment again replaces its earlier MLflow run (found by the ``avc.id`` and
``avc.registry`` tags), so an export can be repeated as runs progress."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from avc_tui.export import (
    SMALL_FILES,
    RunExport,
    epoch_seconds,
    final_metrics,
    final_step,
    flatten,
    metric_name,
)
from core.errors import ConfigError

if TYPE_CHECKING:
    from datetime import datetime

INSTALL_HINT = "install it with: pip install -e '.[mlflow]' (or pip install mlflow-skinny)"
# MLflow's limits on one log_batch call and on one param value.
BATCH_METRICS = 1000
BATCH_PARAMS = 100
BATCH_TAGS = 100
PARAM_LENGTH = 6000
STATUS = {"queued": "SCHEDULED", "running": "RUNNING", "finished": "FINISHED",
          "failed": "FAILED", "cancelled": "KILLED", "lost": "FAILED"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exported:
    """What an MLflow export did: the MLflow experiment's id, the run id of each avc
    experiment, and how many earlier runs it replaced."""

    experiment_id: str
    runs: dict[int, str]
    replaced: int


def require() -> Any:
    """MLflow's client module; raises ``ConfigError`` saying what to install when missing."""
    try:
        from mlflow import entities
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError("--format mlflow needs MLflow, which is not installed",
                          hint=INSTALL_HINT) from exc
    return MlflowClient, entities


def export(runs: list[RunExport], tracking_uri: str, experiment_name: str, *,
           registry: str, checkpoints: bool = False) -> Exported:
    """Write ``runs`` into the MLflow experiment ``experiment_name`` (created when missing) of
    the store at ``tracking_uri``; ``registry`` names the avc registry they come from."""
    client_type, entities = require()
    # MLflow announces its database migrations at INFO on the root handler: quiet unless -v.
    logging.getLogger("mlflow").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        client = client_type(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = (found.experiment_id if found is not None
                         else client.create_experiment(experiment_name))
    except Exception as exc:  # the store's own errors: a bad URI, an unreachable server
        raise ConfigError(f"cannot open the MLflow store {tracking_uri}: {_gist(exc)}",
                          hint="pass --tracking-uri sqlite:///mlflow.db (a local store), a "
                               "server's http://HOST:PORT, or set MLFLOW_TRACKING_URI") from exc
    replaced = 0
    ids = {}
    for run in runs:
        earlier = _earlier(client, experiment_id, run.experiment.id, registry)
        ids[run.experiment.id] = _write(client, entities, experiment_id, run, registry,
                                        checkpoints)
        for run_id in earlier:  # only once the new one is complete
            client.delete_run(run_id)
        replaced += len(earlier)
    return Exported(experiment_id, ids, replaced)


def _earlier(client, experiment_id: str, avc_id: int, registry: str) -> list[str]:
    """The ids of the MLflow runs an earlier export wrote for this experiment."""
    return [run.info.run_id for run in client.search_runs(
        [experiment_id], filter_string=f"tags.`avc.id` = '{avc_id}'")
        if run.data.tags.get("avc.registry") == registry]


def _write(client, entities, experiment_id: str, run: RunExport, registry: str,
           checkpoints: bool) -> str:
    row = run.experiment
    started = _millis(row.started_at or row.created_at)
    created = client.create_run(experiment_id, start_time=started, run_name=row.name,
                                tags=_tags(run, registry))
    run_id = created.info.run_id
    try:
        return _fill(client, entities, run_id, run, checkpoints)
    except BaseException:
        client.set_terminated(run_id, "FAILED")  # not left RUNNING half-written
        raise


def _fill(client, entities, run_id: str, run: RunExport, checkpoints: bool) -> str:
    row = run.experiment
    params = [entities.Param(key, str(value)[:PARAM_LENGTH])
              for key, value in flatten(row.config).items()]
    metrics = [entities.Metric(metric_name(p), p.value, _millis(p.time), p.step)
               for p in run.points]
    finished = _millis(row.finished_at or row.heartbeat_at or row.created_at)
    metrics += [entities.Metric(key, value, finished, final_step(run))
                for key, value in final_metrics(run).items()]
    for start in range(0, len(params), BATCH_PARAMS):
        client.log_batch(run_id, params=params[start:start + BATCH_PARAMS])
    for start in range(0, len(metrics), BATCH_METRICS):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH_METRICS])
    for kind, path in run.files:
        if kind in SMALL_FILES or checkpoints:
            client.log_artifact(run_id, str(path))
    status = STATUS[row.status]
    if status in ("FINISHED", "FAILED", "KILLED"):
        client.set_terminated(run_id, status, end_time=finished)
    else:
        client.update_run(run_id, status=status)
    log.info("experiment %d → MLflow run %s (%d params, %d metric points)", row.id, run_id,
             len(params), len(metrics))
    return run_id


def _tags(run: RunExport, registry: str) -> dict[str, str]:
    row = run.experiment
    tags = {"avc.id": str(row.id), "avc.registry": registry, "avc.status": row.status,
            "avc.dataset": row.dataset, "avc.split": row.split, "avc.backbone": row.backbone,
            "avc.head": row.head, "avc.preset": row.preset, "avc.seed": str(row.seed),
            "avc.run_dir": row.run_dir, "avc.attempt": str(row.attempt),
            "mlflow.source.name": "avc", "mlflow.source.type": "LOCAL"}
    optional = {"avc.tags": ",".join(row.tags or []), "avc.group": row.group_id,
                "avc.device": row.device, "avc.host": row.host, "avc.error": row.error,
                "mlflow.source.git.commit": row.git_revision,
                **{f"avc.version.{name}": value for name, value in (row.versions or {}).items()
                   if " " not in name}}
    tags.update({key: str(value) for key, value in optional.items() if value not in (None, "")})
    if row.error:
        tags["mlflow.note.content"] = row.error
    return tags


def _millis(moment: datetime) -> int:
    return int(round(epoch_seconds(moment) * 1000))


def _gist(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
