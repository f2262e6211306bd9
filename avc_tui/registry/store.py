"""The experiment registry: open a database (SQLite by default, any SQLAlchemy URL), keep its
schema current with Alembic, and read and write experiments, metric points, artifacts and
predictions. Every method uses its own short transaction, so any number of processes can share one
registry.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    String,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, defer, sessionmaker

from avc_tui.registry.errors import RegistryError
from avc_tui.registry.models import (
    ACTIVE,
    RESUMABLE,
    STATUSES,
    Artifact,
    Attempt,
    Experiment,
    Group,
    IdCounter,
    MetricPoint,
    PredictionRecord,
    Status,
)
from avc_tui.registry.schema import ensure_schema, refuse_foreign
from core.choices import SELECTION_KEYS
from core.config import ExperimentConfig, cell_key

DEFAULT_DB = "experiments.db"
# A running experiment whose worker has not reported for this long is taken for lost.
STALE_AFTER = timedelta(seconds=60)


def now() -> datetime:
    """The registry's clock: naive UTC (portable across SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def resolve_url(db: str | None = None) -> str:
    """``db`` (a SQLAlchemy URL or a file path), else ``$AVC_DB_URL``, else ``experiments.db``."""
    value = db or os.environ.get("AVC_DB_URL") or DEFAULT_DB
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer nor the writer the readers; the busy timeout makes
    # concurrent writers queue instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# A database server that accepts connections and never answers must not hang a command (or the
# TUI's polling): seconds to connect, and to run one statement. $AVC_DB_TIMEOUT overrides both;
# a connect_timeout in the URL wins for connecting.
CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT = 30


def _server_timeouts(url: str) -> dict[str, Any]:
    """The driver arguments that bound connecting and each statement on a PostgreSQL server;
    none for SQLite (its busy timeout bounds the wait for a lock)."""
    if not url.startswith("postgresql"):
        return {}
    override = os.environ.get("AVC_DB_TIMEOUT")
    connect = float(override) if override else CONNECT_TIMEOUT
    statement = float(override) if override else STATEMENT_TIMEOUT
    # connect_args replace the URL's own options (and libpq's PGOPTIONS): keep them, add ours.
    given = make_url(url).query.get("options") or os.environ.get("PGOPTIONS") or ""
    given = " ".join(given) if isinstance(given, tuple) else given
    args: dict[str, Any] = {
        "options": f"{given} -c statement_timeout={int(statement * 1000)}".strip()}
    if "connect_timeout=" not in url:
        args["connect_timeout"] = max(1, int(connect))
    return args


def _gist(error: str | None) -> str | None:
    """An error's one line: its message, or a traceback's last line (the exception)."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return None
    return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:500]


def _describe(url: str) -> str:
    return url.split("///", 1)[1] if url.startswith("sqlite:///") else url.split("@")[-1]


@dataclass(frozen=True)
class Placement:
    """Where a worker runs an experiment: the executor that started it (``local``, ``ray``),
    the Ray node's id, and the GPUs it was given (``CUDA_VISIBLE_DEVICES``)."""

    executor: str = "local"
    node_id: str | None = None
    gpus: str | None = None


@dataclass(frozen=True)
class Point:
    """One metric value to record."""

    step: int
    epoch: int
    split: str
    key: str
    value: float
    time: datetime


class Registry:
    """One registry database. Raises :class:`RegistryError` when it cannot be opened."""

    def __init__(self, db: str | None = None, *, create: bool = True) -> None:
        self.url = resolve_url(db)
        # Where the registry is, without a password: the SQLite file or the server's HOST/DB.
        self.location = _describe(self.url)
        where = _describe(self.url)
        if self.url.startswith("sqlite:///"):
            path = Path(where)
            if not create and not path.exists():
                raise RegistryError(f"no registry at {path}",
                                    hint="run an experiment first, or pass --db")
            if not path.parent.is_dir():
                raise RegistryError(f"cannot create the registry {path}: "
                                    f"{path.parent} is not a folder")
        try:
            self.engine: Engine = create_engine(self.url, future=True,
                                                connect_args=_server_timeouts(self.url))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise RegistryError(f"cannot use the database URL {where}: {exc}") from exc
        try:
            # Before the pragmas (WAL changes the file): another program's file stays as it was.
            refuse_foreign(self.engine)
            self.engine.dispose()
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            ensure_schema(self.engine)
        except RegistryError:
            self.engine.dispose()
            raise
        except OperationalError as exc:  # a server that does not answer, a file not openable
            self.engine.dispose()
            raise RegistryError(f"cannot open the registry {where}: {_reason(exc)}",
                                hint="check the --db URL / AVC_DB_URL") from exc
        except DatabaseError as exc:
            self.engine.dispose()
            raise RegistryError(f"{where} is not a usable registry database: {_reason(exc)}",
                                hint="pass --db with another file or URL") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def session(self) -> Session:
        return self._sessions()

    # --- experiments ------------------------------------------------------------------------

    def create(self, config: ExperimentConfig, *, run_dir: str | Path | None = None,
               runs_root: str | Path | None = None, tags: Sequence[str] = (),
               group_id: int | None = None, axes: dict[str, Any] | None = None) -> Experiment:
        """Register ``config`` as a new queued experiment; its run folder is ``run_dir`` or
        ``runs_root/<id>-<backbone>-<head>`` (``runs_root`` defaults to ``$AVC_RUNS_DIR`` or
        ``avc-runs`` in the working directory). ``group_id`` and ``axes``: the group it belongs
        to and its values of the group's axes."""
        runs_root = runs_root or os.environ.get("AVC_RUNS_DIR") or "avc-runs"
        row = Experiment(
            name=config.display_name, status=Status.QUEUED, config=config.to_dict(),
            config_hash=config.hash(), dataset=Path(config.data.root).name,
            split=str(config.data.split), backbone=config.features.backbone,
            head=config.head.name, preset=config.train.preset, seed=config.train.seed,
            tags=sorted({*config.tags, *tags}), run_dir=str(run_dir or ""), created_at=now(),
            epochs=config.train.epochs, versions={}, cancel_requested=False, epoch=0,
            group_id=group_id, axes=axes,
        )
        with self.session() as s, s.begin():
            row.id = _next_id(s, Experiment)
            s.add(row)
            s.flush()
            if run_dir is None:
                base = (Path(runs_root).expanduser().resolve()
                        / f"{row.id:04d}-{row.backbone}-{row.head}")
                folder, n = base, 1
                while folder.exists():  # a folder left from another registry: never clobber it
                    n += 1
                    folder = base.with_name(f"{base.name}-{n}")
                row.run_dir = str(folder)
        return row

    # --- groups -----------------------------------------------------------------------------

    def create_group(self, name: str, *, kind: str = "grid",
                     axes: dict[str, list[Any]] | None = None) -> Group:
        """Register a new, empty group of experiments."""
        row = Group(name=name, kind=kind, axes=axes or {}, created_at=now())
        with self.session() as s, s.begin():
            row.id = _next_id(s, Group)
            s.add(row)
        return row

    def group(self, group_id: int) -> Group:
        with self.session() as s:
            row = s.get(Group, group_id)
        if row is None:
            raise RegistryError(f"no group {group_id} in {_describe(self.url)}",
                                hint="`avc ls --groups` lists the groups")
        return row

    def groups(self) -> list[tuple[Group, dict[str, int]]]:
        """Every group, newest first, with how many of its experiments are in each status."""
        with self.session() as s:
            groups = list(s.scalars(select(Group).order_by(Group.id.desc())))
            counts = s.execute(select(Experiment.group_id, Experiment.status,
                                      func.count(Experiment.id))
                               .where(Experiment.group_id.is_not(None))
                               .group_by(Experiment.group_id, Experiment.status)).all()
        by_group: dict[int, dict[str, int]] = {}
        for group_id, status, n in counts:
            by_group.setdefault(group_id, {})[status] = n
        return [(g, by_group.get(g.id, {})) for g in groups]

    def delete_group(self, group_id: int) -> Group:
        """Remove the group's row (its experiments are removed by the caller, one by one)."""
        row = self.group(group_id)
        with self.session() as s, s.begin():
            s.execute(delete(Group).where(Group.id == group_id))
        return row

    def get(self, experiment_id: int) -> Experiment:
        with self.session() as s:
            row = s.get(Experiment, experiment_id)
        if row is None:
            raise RegistryError(f"no experiment {experiment_id} in {_describe(self.url)}",
                                hint="`avc ls` lists the experiments")
        return row

    def with_run_dir(self, run_dir: str) -> Experiment | None:
        """The experiment whose run folder is ``run_dir``, if any."""
        with self.session() as s:
            return s.scalars(select(Experiment).where(Experiment.run_dir == run_dir)
                             .options(defer(Experiment.config), defer(Experiment.result))
                             .limit(1)).first()

    def config(self, experiment_id: int) -> ExperimentConfig:
        return ExperimentConfig.from_dict(self.get(experiment_id).config)

    def update(self, experiment_id: int, **values: Any) -> None:
        self.get(experiment_id)
        with self.session() as s, s.begin():
            s.execute(update(Experiment).where(Experiment.id == experiment_id).values(**values))

    def list(self, *, status: str | None = None, dataset: str | None = None,
             backbone: str | None = None, head: str | None = None, tag: str | None = None,
             sort: str = "id", descending: bool = False, limit: int | None = None,
             light: bool = False, group: int | None = None) -> list[Experiment]:
        """Experiments matching every given filter, sorted by ``sort`` (a column name).

        ``light`` leaves the config and result documents unloaded (for listings).
        """
        order = getattr(Experiment, sort, None)
        if (order is None or sort.startswith("_") or sort not in Experiment.__table__.columns
                or sort in ("config", "result", "tags", "versions")):
            raise RegistryError(f"cannot sort by {sort!r}",
                                hint="sort by id, name, status, backbone, head, test_top1, "
                                     "created_at, …")
        query = _filtered(select(Experiment), status=status, dataset=dataset,
                          backbone=backbone, head=head, tag=tag, group=group)
        query = query.order_by(order.desc() if descending else order, Experiment.id)
        if light:
            query = query.options(defer(Experiment.config), defer(Experiment.result))
        if limit:
            query = query.limit(limit)
        with self.session() as s:
            rows = list(s.scalars(query))
        return [r for r in rows if tag is None or tag in (r.tags or [])]

    def results(self, *, dataset: str | None = None, tag: str | None = None,
                group: int | None = None) -> list[dict[str, Any]]:
        """The finished experiments with a test accuracy, as plain records (one narrow query:
        what the comparison table needs, fast on large registries). ``cell`` is the
        :func:`~core.config.cell_key` of each: the same for the trials of one cell."""
        columns = (Experiment.id, Experiment.name, Experiment.dataset, Experiment.backbone,
                   Experiment.head, Experiment.preset, Experiment.seed, Experiment.tags,
                   Experiment.group_id, Experiment.axes, Experiment.config,
                   Experiment.test_top1.label("top1"), Experiment.test_top5.label("top5"))
        query = _filtered(select(*columns), status=Status.FINISHED, dataset=dataset, backbone=None,
                          head=None, tag=tag, group=group).where(Experiment.test_top1.is_not(None))
        with self.session() as s:
            rows = [dict(r._mapping) for r in s.execute(query.order_by(Experiment.id))]
        if tag is not None:
            rows = [r for r in rows if tag in (r["tags"] or [])]
        for r in rows:
            del r["tags"]
            r["cell"] = cell_key(r.pop("config"))
        return rows

    def changes(self, since: datetime, max_id: int) -> list[Experiment]:
        """Experiments (light) that may have changed since ``since``: the active ones, those newer
        than ``max_id`` and those that ended since (the dashboard's polling query)."""
        query = (select(Experiment)
                 .where(or_(Experiment.status.in_(ACTIVE), Experiment.id > max_id,
                            Experiment.finished_at >= since))
                 .options(defer(Experiment.config), defer(Experiment.result))
                 .order_by(Experiment.id))
        with self.session() as s:
            return list(s.scalars(query))

    def dataset_names(self) -> list[str]:
        """The distinct dataset names of the registered experiments, sorted."""
        with self.session() as s:
            return sorted(s.scalars(select(Experiment.dataset).distinct()))

    def count(self, *, status: str | None = None, dataset: str | None = None,
              backbone: str | None = None, head: str | None = None,
              tag: str | None = None, group: int | None = None) -> int:
        query = _filtered(select(func.count(Experiment.id)), status=status, dataset=dataset,
                          backbone=backbone, head=head, tag=tag, group=group)
        with self.session() as s:
            return int(s.scalar(query) or 0)

    def delete(self, experiment_id: int) -> Experiment:
        row = self.get(experiment_id)
        with self.session() as s, s.begin():
            s.execute(delete(MetricPoint).where(MetricPoint.experiment_id == experiment_id))
            s.execute(delete(Artifact).where(Artifact.experiment_id == experiment_id))
            s.execute(delete(PredictionRecord)
                      .where(PredictionRecord.experiment_id == experiment_id))
            s.execute(delete(Attempt).where(Attempt.experiment_id == experiment_id))
            s.execute(delete(Experiment).where(Experiment.id == experiment_id))
        return row

    # --- life cycle -------------------------------------------------------------------------

    def mark_running(self, experiment_id: int, *, device: str, pid: int | None = None,
                     versions: dict[str, str] | None = None,
                     git_revision: str | None = None, placement: Placement | None = None) -> bool:
        """Move a queued experiment to running and record the start as a new attempt (where:
        ``placement``, by default this host under the local executor); False (and nothing
        changed) when it is no longer queued, e.g. cancelled while it waited."""
        placement = placement or Placement()
        stamp = now()
        host = socket.gethostname()
        values: dict[str, Any] = dict(status=Status.RUNNING, device=device, pid=pid or os.getpid(),
                                      host=host, heartbeat_at=stamp, error=None,
                                      finished_at=None, cancel_requested=False,
                                      node_id=placement.node_id,
                                      attempt=Experiment.attempt + 1)
        if versions is not None:
            values["versions"] = versions
        if git_revision is not None:
            values["git_revision"] = git_revision
        row = self.get(experiment_id)
        if row.started_at is None:
            values["started_at"] = stamp
        with self.session() as s, s.begin():
            changed = s.execute(update(Experiment).where(
                Experiment.id == experiment_id, Experiment.status == Status.QUEUED)
                .values(**values)).rowcount
            if not changed:
                return False
            number = s.scalar(select(Experiment.attempt).where(Experiment.id == experiment_id))
            s.add(Attempt(experiment_id=experiment_id, number=number,
                          executor=placement.executor, host=host, node_id=placement.node_id,
                          gpus=placement.gpus, started_at=stamp))
        return True

    def attempts(self, experiment_id: int) -> list[Attempt]:
        """The experiment's attempts, first first."""
        with self.session() as s:
            return list(s.scalars(select(Attempt).where(Attempt.experiment_id == experiment_id)
                                  .order_by(Attempt.number)))

    @staticmethod
    def _end_attempt(s: Session, experiment_id: int, status: str, reason: str | None) -> None:
        s.execute(update(Attempt).where(Attempt.experiment_id == experiment_id,
                                        Attempt.ended_at.is_(None))
                  .values(ended_at=now(), status=status, reason=reason))

    def requeue(self, experiment_id: int) -> bool:
        """Queue a cancelled, lost or failed experiment again (to resume it); False when it is in
        another state by now."""
        return self._transition(experiment_id, RESUMABLE, status=Status.QUEUED)

    def _transition(self, experiment_id: int, from_states: Sequence[str], **values: Any) -> bool:
        """Compare-and-set: update the row only while its status is one of ``from_states``."""
        self.get(experiment_id)
        with self.session() as s, s.begin():
            result = s.execute(update(Experiment).where(
                Experiment.id == experiment_id, Experiment.status.in_(list(from_states)))
                .values(**values))
            return bool(result.rowcount)

    def heartbeat(self, experiment_id: int, *, epoch: int | None = None) -> bool:
        """Record that the worker is alive; returns whether a cancel was requested. A run taken
        for lost while its worker was only silent (a suspended machine) is running again."""
        values: dict[str, Any] = {"heartbeat_at": now()}
        if epoch is not None:
            values["epoch"] = epoch
        with self.session() as s, s.begin():
            s.execute(update(Experiment).where(Experiment.id == experiment_id).values(**values))
            revived = s.execute(update(Experiment).where(
                Experiment.id == experiment_id, Experiment.status == Status.LOST,
                Experiment.pid == os.getpid(), Experiment.host == socket.gethostname())
                .values(status=Status.RUNNING, finished_at=None)).rowcount
            if revived:  # its attempt goes on too
                number = select(Experiment.attempt).where(Experiment.id == experiment_id)
                s.execute(update(Attempt).where(Attempt.experiment_id == experiment_id,
                                                Attempt.number == number.scalar_subquery())
                          .values(ended_at=None, status=None, reason=None))
            return bool(s.scalar(select(Experiment.cancel_requested)
                                 .where(Experiment.id == experiment_id)))

    def finish(self, experiment_id: int, status: str, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        values: dict[str, Any] = {"status": status, "finished_at": now(), "heartbeat_at": now()}
        if error is not None:
            values["error"] = error
        if result is not None:
            result = _finite(result)  # NaN is not JSON (PostgreSQL refuses it)
            test = result.get("test") or {}
            values.update(result=result, test_top1=test.get("top1"), test_top5=test.get("top5"),
                          test_loss=test.get("loss"), epoch=result.get("epochs_run", 0))
        self.get(experiment_id)
        with self.session() as s, s.begin():
            s.execute(update(Experiment).where(Experiment.id == experiment_id).values(**values))
            if status not in ACTIVE:
                reason = _gist(error) if status != Status.FINISHED else None
                self._end_attempt(s, experiment_id, status, reason)

    def request_cancel(self, experiment_id: int) -> Experiment:
        """Ask a running experiment to stop (its worker sees it at its next heartbeat); a queued
        one is cancelled at once. Returns the row as it was."""
        row = self.get(experiment_id)
        if row.status == Status.QUEUED and self._transition(
                experiment_id, (Status.QUEUED,), status=Status.CANCELLED, finished_at=now()):
            return row
        # Running (or started in the meantime): its worker stops at its next heartbeat.
        self._transition(experiment_id, (Status.QUEUED, Status.RUNNING), cancel_requested=True)
        return self.get(experiment_id) if row.status == Status.QUEUED else row

    def mark_lost(self, *, stale_after: timedelta = STALE_AFTER) -> list[int]:
        """Mark running experiments whose worker stopped reporting as ``lost``; returns their ids.

        A worker on this host whose process is gone (or is a zombie: it exited and its parent has
        not collected it) is lost at once; a heartbeat older than ``stale_after`` means lost on
        any host, since a live worker's heartbeat thread beats every few seconds.
        """
        host = socket.gethostname()
        cutoff = now() - stale_after
        lost = []
        for row in self.list(status=Status.RUNNING, light=True):
            stale = row.heartbeat_at is not None and row.heartbeat_at < cutoff
            # On this host the process itself tells too.
            dead = stale or (row.host == host and row.pid is not None and not _alive(row.pid))
            if not dead:
                continue
            with self.session() as s, s.begin():
                # Only if nothing changed since it was read (a resumed run has a new pid).
                result = s.execute(update(Experiment).where(
                    Experiment.id == row.id, Experiment.status == Status.RUNNING,
                    Experiment.pid == row.pid, Experiment.heartbeat_at == row.heartbeat_at)
                    .values(status=Status.LOST, finished_at=now()))
                if result.rowcount:
                    lost.append(row.id)
                    self._end_attempt(s, row.id, Status.LOST,
                                      "no heartbeat" if stale else "its worker process is gone")
        return lost

    # --- metrics ----------------------------------------------------------------------------

    def add_points(self, experiment_id: int, points: Iterable[Point]) -> int:
        """Insert ``points`` in one transaction; returns how many."""
        rows = [{"experiment_id": experiment_id, "step": p.step, "epoch": p.epoch,
                 "split": p.split, "key": p.key, "value": float(p.value), "time": p.time}
                for p in points if math.isfinite(p.value)]  # a diverged loss is not a point
        if rows:
            with self.session() as s, s.begin():
                s.execute(insert(MetricPoint), rows)
        return len(rows)

    def points(self, experiment_id: int, *, after_id: int = 0, key: str | None = None,
               keys: Sequence[str] | None = None, limit: int | None = None
               ) -> list[MetricPoint]:
        """Metric points of one experiment with id > ``after_id`` (the TUI's polling query),
        optionally only those of ``key`` or ``keys``."""
        query = (select(MetricPoint).where(MetricPoint.experiment_id == experiment_id,
                                           MetricPoint.id > after_id)
                 .order_by(MetricPoint.id))
        if key is not None:
            query = query.where(MetricPoint.key == key)
        if keys is not None:
            query = query.where(MetricPoint.key.in_(list(keys)))
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(s.scalars(query))

    def latest_epoch_metrics(self, experiment_id: int
                             ) -> tuple[float | None, float | None, float | None]:
        """(latest train loss, latest and best value of the validation metric the run is
        selected by): accuracy, or mAP for multi-label runs (those that record it)."""
        def one(query):
            with self.session() as s:
                return s.scalar(query)

        base = select(MetricPoint.value).where(MetricPoint.experiment_id == experiment_id)
        loss = one(base.where(MetricPoint.key == "loss", MetricPoint.split == "train")
                   .order_by(MetricPoint.id.desc()).limit(1))
        key = SELECTION_KEYS["multi-label"]  # recorded only by multi-label runs
        if one(base.where(MetricPoint.key == key, MetricPoint.split == "val").limit(1)) is None:
            key = SELECTION_KEYS["single-label"]
        acc = one(base.where(MetricPoint.key == key, MetricPoint.split == "val")
                  .order_by(MetricPoint.id.desc()).limit(1))
        best = one(select(func.max(MetricPoint.value)).where(
            MetricPoint.experiment_id == experiment_id, MetricPoint.key == key,
            MetricPoint.split == "val"))
        return loss, acc, best

    def latest_values(self, experiment_id: int, keys: Sequence[str], *,
                      split: str) -> dict[str, float]:
        """The newest value of each of ``keys`` (of ``split``) that the experiment recorded."""
        values = {}
        with self.session() as s:
            for key in keys:
                value = s.scalar(select(MetricPoint.value).where(
                    MetricPoint.experiment_id == experiment_id, MetricPoint.key == key,
                    MetricPoint.split == split).order_by(MetricPoint.id.desc()).limit(1))
                if value is not None:
                    values[key] = value
        return values

    def drop_points_after(self, experiment_id: int, epoch: int) -> int:
        """Forget points of epochs after ``epoch`` (a resumed run repeats them); the system
        figures stay (they happened, on the earlier attempt's clock)."""
        with self.session() as s, s.begin():
            result = s.execute(delete(MetricPoint).where(MetricPoint.experiment_id == experiment_id,
                                                         MetricPoint.epoch > epoch,
                                                         MetricPoint.split != "system"))
            return int(result.rowcount or 0)

    # --- artifacts and predictions ----------------------------------------------------------

    def add_artifact(self, experiment_id: int, kind: str, path: str | Path) -> None:
        """Record (or refresh) the file ``path`` of kind ``kind`` with its size and hash."""
        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        with self.session() as s, s.begin():
            s.execute(delete(Artifact).where(Artifact.experiment_id == experiment_id,
                                             Artifact.path == str(path)))
            s.add(Artifact(experiment_id=experiment_id, kind=kind, path=str(path),
                           size=path.stat().st_size, sha256=digest.hexdigest(),
                           created_at=now()))

    def artifacts(self, experiment_id: int) -> list[Artifact]:
        with self.session() as s:
            return list(s.scalars(select(Artifact).where(Artifact.experiment_id == experiment_id)
                                  .order_by(Artifact.id)))

    def add_prediction(self, experiment_id: int, answer: dict[str, Any]) -> None:
        top = answer["top"][0]
        with self.session() as s, s.begin():
            s.add(PredictionRecord(experiment_id=experiment_id, video=answer["video"],
                                   label=top["class"], probability=top["probability"],
                                   answer=answer, created_at=now()))

    def predictions(self, experiment_id: int) -> list[PredictionRecord]:
        with self.session() as s:
            return list(s.scalars(select(PredictionRecord)
                                  .where(PredictionRecord.experiment_id == experiment_id)
                                  .order_by(PredictionRecord.id)))

    def recent_videos(self, limit: int = 10) -> list[str]:
        """The videos predicted on most recently (with any experiment), newest first, each
        once."""
        newest = func.max(PredictionRecord.id).label("newest")
        query = (select(PredictionRecord.video, newest).group_by(PredictionRecord.video)
                 .order_by(newest.desc()).limit(limit))
        with self.session() as s:
            return [video for video, _ in s.execute(query)]

    def active(self) -> list[Experiment]:
        with self.session() as s:
            return list(s.scalars(select(Experiment).where(Experiment.status.in_(ACTIVE))))


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _next_id(session: Session, model: type[Experiment] | type[Group]) -> int:
    """The next id of ``model``'s table from its counter, which only grows: an id is never
    given out twice. Rows written past the counter (bulk imports) move it on. The counter's row
    lock (SQLite: the write lock) serialises concurrent creators."""
    table = model.__tablename__
    counter = IdCounter.name == table
    done = session.execute(update(IdCounter).where(counter).values(value=IdCounter.value + 1))
    if done.rowcount != 1:
        raise RegistryError(f"the registry has no id counter for {table}",
                            hint="it was changed by hand; restore it from a backup, or pass "
                                 "--db with another registry")
    value = session.scalar(select(IdCounter.value).where(counter))
    highest = session.scalar(select(func.max(model.id)))
    if highest is not None and highest >= value:
        value = highest + 1
        session.execute(update(IdCounter).where(counter).values(value=value))
    return value


def _filtered(query, *, status: str | None, dataset: str | None, backbone: str | None,
              head: str | None, tag: str | None, group: int | None = None):
    for column, value in ((Experiment.status, status), (Experiment.dataset, dataset),
                          (Experiment.backbone, backbone), (Experiment.head, head),
                          (Experiment.group_id, group)):
        if value is not None:
            query = query.where(column == value)
    if tag is not None:
        # Tags are a JSON list; its text holds "tag" with the quotes, on SQLite and PostgreSQL.
        query = query.where(cast(Experiment.tags, String).like(f'%"{tag}"%'))
    return query


def _reason(exc: DatabaseError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits for its parent to collect it (Linux's /proc; False
    where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses.
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] == "Z"
