"""The registry's tables (SQLAlchemy 2.0): experiments, their metric points, artifacts, predictions.

Schema changes go through an Alembic migration in ``avc_tui/registry/migrations/versions``; the
models here always describe the newest revision.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Status(StrEnum):
    """Where an experiment is in its life: queued → running → finished, failed, cancelled or lost
    (its worker vanished); a cancelled, failed or lost one can be queued again to resume it."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"


STATUSES = tuple(Status)
ACTIVE = (Status.QUEUED, Status.RUNNING)
RESUMABLE = (Status.CANCELLED, Status.LOST, Status.FAILED)


# What `avc ls --json`, `avc show --json` and the exports say of an experiment, in this order.
SUMMARY_COLUMNS = ("id", "name", "status", "dataset", "split", "backbone", "head", "preset", "seed",
                   "tags", "device", "host", "pid", "epoch", "epochs", "test_top1", "test_top5",
                   "test_loss", "run_dir", "created_at", "started_at", "finished_at",
                   "heartbeat_at", "config_hash", "git_revision", "versions", "error",
                   "group_id", "axes", "attempt", "node_id")


class Base(DeclarativeBase):
    pass


class Experiment(Base):
    """One experiment: its configuration, where and when it ran, how it ended."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(32))
    backbone: Mapped[str] = mapped_column(String(64))
    head: Mapped[str] = mapped_column(String(64))
    preset: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    device: Mapped[str | None] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    run_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    git_revision: Mapped[str | None] = mapped_column(String(64))
    versions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int | None] = mapped_column(Integer)
    test_top1: Mapped[float | None] = mapped_column(Float)
    test_top5: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    group_id: Mapped[int | None] = mapped_column(Integer)
    axes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    node_id: Mapped[str | None] = mapped_column(String(64))

    points: Mapped[list[MetricPoint]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", passive_deletes=True)
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", passive_deletes=True)
    predictions: Mapped[list[PredictionRecord]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", passive_deletes=True)

    def as_dict(self) -> dict[str, Any]:
        """The row's columns as plain values (not the config and result documents)."""
        return {name: getattr(self, name) for name in SUMMARY_COLUMNS}

    __table_args__ = (
        Index("ix_experiments_status", "status"),
        Index("ix_experiments_cell", "dataset", "backbone", "head"),
        Index("ix_experiments_created", "created_at"),
        Index("ix_experiments_group", "group_id"),
    )


class Group(Base):
    """Experiments registered together (one `avc grid`): its ``axes`` map each swept field to
    the values it takes (``{"backbone": [...], "head": [...], "seed": [0, 1, 2]}``)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    axes: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Attempt(Base):
    """One start of an experiment by a worker (the first run, a resume, a retry): where it ran
    (``host``; ``node_id``, the Ray node; ``gpus``, the GPUs it saw), when, and how it ended
    (``status``, ``reason``: why it was lost or failed)."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(200))
    node_id: Mapped[str | None] = mapped_column(String(64))
    gpus: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_attempts_experiment", "experiment_id", "number"),)


class IdCounter(Base):
    """The highest id ever given out per table (``experiments``): new ids come after it, so an
    id is never reused after its experiment is removed."""

    __tablename__ = "id_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class MetricPoint(Base):
    """One value of one metric (``key``) at a step of an experiment; ``split`` is train/val/test."""

    __tablename__ = "metric_points"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[datetime] = mapped_column(DateTime)

    experiment: Mapped[Experiment] = relationship(back_populates="points")

    # "Points newer than X for one experiment" is the TUI's polling query.
    __table_args__ = (Index("ix_metric_points_experiment_id", "experiment_id", "id"),
                      Index("ix_metric_points_experiment_key", "experiment_id", "key", "id"))


class Artifact(Base):
    """A file an experiment wrote (checkpoint, config, metrics log, result), with size and hash."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)

    experiment: Mapped[Experiment] = relationship(back_populates="artifacts")


class PredictionRecord(Base):
    """One ``avc predict`` answer for one video, made with an experiment's model."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    video: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(200))
    probability: Mapped[float] = mapped_column(Float)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    experiment: Mapped[Experiment] = relationship(back_populates="predictions")
