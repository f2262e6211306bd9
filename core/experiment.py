"""One experiment end to end: dataset → cached features → sequences → training → test metrics.

This is the engine's entry point for the application layer: :func:`run_experiment` takes an
:class:`ExperimentConfig`, a run folder and callbacks, and returns an :class:`ExperimentResult`.
The run folder holds ``config.json``, ``checkpoint.pt`` (and ``best.pt``), ``metrics.jsonl`` and,
once finished, ``result.json``.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.atomic import atomic_write
from core.backbones import feature_shape
from core.config import ExperimentConfig
from core.data import Dataset, VideoItem, load_dataset
from core.data.dataset import StreamSource
from core.data.youtube8m import AUDIO_DIM, MAX_FRAMES, RGB_DIM
from core.data.yt8m_layout import wants_stream
from core.data.yt8m_stream import IdFraction, StreamSet, Yt8mStream
from core.devices import resolve_device
from core.distributed import Distributed, run_data_parallel
from core.errors import ConfigError, VideoDecodeError
from core.events import EventCallback, RunWarning, emit
from core.features import (
    ExtractionReport,
    ExtractionSpec,
    FeatureCache,
    available_cpus,
    extract_features,
    find_unreadable,
)
from core.metrics import Metrics
from core.models import build_head, get_head_spec
from core.precision import resolve_precision
from core.presets import PRESETS
from core.run_folder import RunFolder
from core.sequences import (
    FeatureNormalizer,
    SequenceSet,
    build_sequences,
    expected_frames,
)
from core.train import (
    TrainOutcome,
    TrainSettings,
    final_metrics,
    holdout_split,
    train_head,
)


def default_cache_dir() -> Path:
    """``$AVC_CACHE_DIR``, else ``~/.cache/avc/features``."""
    env = os.environ.get("AVC_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "avc" / "features"


@dataclass
class ExperimentResult:
    """The outcome of :func:`run_experiment`; ``test`` holds the reported metrics."""

    run_dir: Path
    config: ExperimentConfig
    classes: list[str]
    frames: int
    test: Metrics | None
    history: list[dict[str, float]]
    epochs_run: int
    selected_epoch: int
    parameters: int
    unreadable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False
    stopped_early: bool = False
    warnings: list[str] = field(default_factory=list)
    # What the config's precisions resolved to on this machine: {"features": …, "training": …}.
    precision: dict[str, str] = field(default_factory=dict)
    # How the dataset was read: "memory" (or videos through the cache), or "stream".
    loading: str = "memory"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.config.display_name,
            "config_hash": self.config.hash(),
            "classes": self.classes,
            "frames": self.frames,
            "test": self.test.to_dict() if self.test else None,
            "history": self.history,
            "epochs_run": self.epochs_run,
            "selected_epoch": self.selected_epoch,
            "parameters": self.parameters,
            "unreadable": self.unreadable,
            "seconds": self.seconds,
            "cancelled": self.cancelled,
            "stopped_early": self.stopped_early,
            "precision": self.precision,
            "loading": self.loading,
            "warnings": self.warnings,
            "host": platform.node(),
            "torch": torch.__version__,
        }


def extraction_spec(config: ExperimentConfig) -> ExtractionSpec:
    """The extraction settings of ``config``, its precision resolved for the device it runs on."""
    f = config.features
    return ExtractionSpec.create(f.backbone, weights=f.weights, input_size=f.input_size,
                                 sampling=f.sampling, init_seed=f.init_seed, resize=f.resize,
                                 precision=f.precision, compile=f.compile,
                                 device=config.train.device)


def open_dataset(config: ExperimentConfig) -> Dataset:
    """Load the configured dataset (its files only, when it is read as a stream: see
    :func:`core.data.yt8m_layout.wants_stream`); raises ``DatasetLayoutError``/``ConfigError``."""
    d = config.data
    stream = d.layout == "youtube8m" and (config.train.processes > 1
                                          or wants_stream(d.root, d.split, d.loading))
    dataset = load_dataset(d.root, layout=d.layout, split=d.split, seed=d.split_seed,
                           test_size=d.test_size, annotations=d.annotations, stream=stream)
    if stream and config.head.normalize != "none":
        raise ConfigError(f"--normalize {config.head.normalize} needs every video's features "
                          "before training, and this dataset is streamed",
                          hint="leave --normalize at none (YouTube-8M's features are whitened "
                               "already), or pass --loading memory for a selection that fits")
    return dataset


def prepare_features(config: ExperimentConfig, dataset: Dataset, *, cache: FeatureCache,
                     callbacks: Sequence[EventCallback] = (),
                     should_stop: Callable[[], bool] | None = None,
                     num_workers: int | None = None, skip_unreadable: bool = False,
                     spec: ExtractionSpec | None = None) -> ExtractionReport:
    """Fill the cache for every video of ``dataset``.

    ``spec`` is the config's :func:`extraction_spec` when the caller already made it: passing it
    on keeps the weights identity (a hash of a whole weights file) computed once per run.

    Raises ``VideoDecodeError`` when some videos cannot be decoded, unless ``skip_unreadable``
    (then they are left out and listed in the report; never dropped silently).
    """
    report = extract_features([item.path for item in dataset.items()],
                              spec if spec is not None else extraction_spec(config),
                              cache, device=config.train.device, num_workers=num_workers,
                              callbacks=callbacks, should_stop=should_stop)
    if report.failed and not skip_unreadable:
        raise unreadable_error(report.failed, len(dataset.items()))
    return report


SKIP_HINT = ("fix or remove them, or pass --skip-unreadable to leave them out (they are listed "
             "in the run's result)")


def unreadable_error(failed: Mapping[Path, str], total: int,
                     hint: str = SKIP_HINT) -> VideoDecodeError:
    """The one error for videos that cannot be decoded: how many, and the first one's reason."""
    reason = next(iter(failed.values()))
    return VideoDecodeError(
        f"{len(failed)} of {total} videos could not be decoded (first: {reason})", hint=hint)


def check_videos(configs: Sequence[ExperimentConfig], dataset: Dataset, *,
                 cache_dir: str | Path | None = None) -> None:
    """Raise the unreadable-videos error when a video of ``dataset`` that ``configs`` would
    extract cannot be opened (see :func:`core.features.find_unreadable`); nothing for datasets
    that bring their own features."""
    if dataset.brings_features:
        return
    items = dataset.items()
    specs = {}  # one per distinct feature setting: a weights file is hashed once
    for config in configs:
        if config.features not in specs:
            specs[config.features] = extraction_spec(config)
    failed = find_unreadable([item.path for item in items], list(specs.values()),
                             FeatureCache(cache_dir or default_cache_dir()))
    if failed:
        raise unreadable_error(failed, len(items))


def _labels(dataset: Dataset, items: Sequence[VideoItem]) -> list[int] | torch.Tensor:
    """Class indices, or a multi-hot (N, C) tensor for multi-label datasets."""
    if not dataset.multilabel:
        return [item.label for item in items]
    labels = torch.zeros(len(items), len(dataset.classes))
    for row, item in enumerate(items):
        labels[row, list(item.labels)] = 1.0
    return labels


class _Features:
    """Each usable video's per-frame maps (frames, C, h, w): from the feature cache, or from the
    dataset itself when its features come with it (YouTube-8M: vectors, seen as 1×1 maps).

    Each video's features are read once per run. The frame counts (:meth:`counts`) come from the
    cache entries' headers, and the maps are loaded once, when the train or test sequences are
    built, so only one split's maps are in memory at a time. Features that come with the data are
    asked for once and kept: the dataset holds them in memory anyway, and the 1×1 maps are views.
    """

    def __init__(self, dataset: Dataset, report: ExtractionReport | None, cache: FeatureCache,
                 spec: ExtractionSpec) -> None:
        self.dataset, self.report, self.cache, self.spec = dataset, report, cache, spec
        self._given: dict[Path, np.ndarray] | None = None

    def usable(self, items: Sequence[VideoItem]) -> list[VideoItem]:
        if self.report is None:
            return list(items)
        return [item for item in items if item.path in self.report.hashes]

    def _given_maps(self) -> dict[Path, np.ndarray]:
        """Every video's features that came with the dataset, as (frames, D, 1, 1) views."""
        if self._given is None:
            items = self.dataset.items()
            self._given = {item.path: v.reshape(*v.shape, 1, 1)
                           for item, v in zip(items, self.dataset.load_features(items))}
        return self._given

    def maps(self, items: Sequence[VideoItem]) -> list[np.ndarray]:
        if self.dataset.load_features is not None:
            given = self._given_maps()
            return [given[item.path] for item in items]
        return [self.cache.load(self.spec, self.report.hashes[item.path]).features
                for item in items]

    def counts(self) -> list[int]:
        usable = self.usable(self.dataset.items())
        if self.dataset.load_features is not None:
            return [m.shape[0] for m in self.maps(usable)]
        return [self.cache.frame_count(self.spec, self.report.hashes[item.path])
                for item in usable]

    def sequences(self, items: Sequence[VideoItem], frames: int, reduction: str) -> SequenceSet:
        usable = self.usable(items)
        return build_sequences(self.maps(usable), _labels(self.dataset, usable), frames=frames,
                               reduction=reduction)


def default_stream_workers() -> int:
    """DataLoader workers per training process for a streamed set: the CPUs this job may use
    less one for the training loop, at most 4, none below 3 CPUs (parsing in the loop's
    process is then cheaper than a worker's start-up and copies)."""
    cpus = available_cpus()
    return 0 if cpus < 3 else min(4, cpus - 1)


def stream_sets(source: StreamSource, config: ExperimentConfig, *, frames: int, batch_size: int,
                workers: int | None = None, pin_memory: bool = False, rank: int = 0,
                world_size: int = 1) -> tuple[StreamSet, StreamSet, StreamSet]:
    """The train, validation and test sets of a streamed dataset. The train stream is shuffled
    as the preset says (per epoch, or once); the modern preset's hold-out is a seeded hash of the
    video ids (:class:`IdFraction`), not the in-memory path's stratified split. Each process of a
    data-parallel run reads its share of the train stream; evaluation streams are read whole by
    the process that evaluates."""
    preset = PRESETS[config.train.preset]
    workers = default_stream_workers() if workers is None else workers
    seed = config.train.seed
    common = {"num_classes": source.num_classes, "frames": frames}
    holdout = preset.validation == "holdout"
    train = Yt8mStream(source.train_files, batch_size=max(1, batch_size // world_size),
                       shuffle=preset.shuffle, seed=seed, rank=rank, world_size=world_size,
                       records=source.train_records,
                       select=IdFraction(preset.holdout_fraction, seed, inside=False)
                       if holdout else None, **common)
    test = StreamSet(Yt8mStream(source.test_files, batch_size=256, records=source.test_records,
                                **common), workers=workers, pin_memory=pin_memory)
    val = (StreamSet(Yt8mStream(source.train_files, batch_size=256, **common,
                                records=source.train_records,
                                select=IdFraction(preset.holdout_fraction, seed, inside=True)),
                     workers=workers, pin_memory=pin_memory) if holdout else test)
    return StreamSet(train, workers=workers, pin_memory=pin_memory), val, test


def _train_rank(parallel: Distributed, device: torch.device, *, build: Callable[[], Any],
                sets: Callable[..., tuple[StreamSet, StreamSet, StreamSet]],
                settings: TrainSettings, num_classes: int, run_dir: Path,
                extra: dict[str, Any], resume: bool) -> TrainOutcome:
    """One rank other than 0 of a data-parallel run: its own model (DDP gives it rank 0's
    weights) and its share of the training stream."""
    torch.manual_seed(settings.seed)
    model = build()  # DDP gives it rank 0's weights; each rank draws its own dropout
    torch.manual_seed(settings.seed + parallel.rank)
    train_set, val_set, _ = sets(rank=parallel.rank, world_size=parallel.world_size)
    return train_head(model, train_set, val_set, num_classes, replace(settings, device=device),
                      run_dir=run_dir, checkpoint_extra=extra, resume=resume, parallel=parallel)


def _train_data_parallel(config: ExperimentConfig, dataset: Dataset, model: torch.nn.Module,
                         settings: TrainSettings, *, frames: int, in_dim: int, run_dir: Path,
                         extra: dict[str, Any], callbacks: Sequence[EventCallback],
                         should_stop: Callable[[], bool] | None, resume: bool,
                         workers: int | None
                         ) -> tuple[TrainOutcome, StreamSet, StreamSet]:
    """Train ``model`` in ``config.train.processes`` processes (:mod:`core.distributed`); this
    process is rank 0 and keeps the callbacks. Returns the outcome and rank 0's train and
    validation sets (the train set holds what every rank's share met)."""
    processes = config.train.processes  # each with 2 videos a step or more: see the config
    if workers is None:  # the job's CPUs shared between the ranks
        share = available_cpus() // processes
        workers = 0 if share < 3 else min(4, share - 1)
    head = config.head
    sets = functools.partial(stream_sets, dataset.stream, config, frames=frames,
                             batch_size=settings.batch_size, workers=workers,
                             pin_memory=settings.device.type == "cuda")
    build = functools.partial(build_head, head.name, in_dim=in_dim,
                              num_classes=len(dataset.classes), frames=frames,
                              options=head.options, multilabel=True, restoring=resume)
    common = {"settings": settings, "num_classes": len(dataset.classes), "run_dir": run_dir,
              "extra": extra, "resume": resume}

    def main(parallel: Distributed, device: torch.device
             ) -> tuple[TrainOutcome, StreamSet, StreamSet]:
        train_set, val_set, _ = sets(rank=0, world_size=processes)
        outcome = train_head(model, train_set, val_set, len(dataset.classes),
                             replace(settings, device=device), run_dir=run_dir,
                             checkpoint_extra=extra, callbacks=callbacks,
                             should_stop=should_stop, resume=resume, parallel=parallel)
        return outcome, train_set, val_set

    work = functools.partial(_train_rank, build=build, sets=sets, **common)
    return run_data_parallel(processes, settings.device, work, main)


def _feature_warnings(counts: Sequence[int], normalize: str) -> list[str]:
    """What to warn of in the features: videos of one sampled frame that ``--normalize video``
    (centring each video over time) turns into zeros, so the head cannot tell them apart."""
    single = sum(1 for count in counts if count == 1)
    if normalize != "video" or not single:
        return []
    return [f"{single} of {len(counts)} videos gave one frame (shorter than the sampling "
            f"period); --normalize video makes their features all zero, so they all get the "
            f"same prediction: sample more frames (e.g. --sampling uniform:8) or use "
            f"--normalize dataset"]


def run_experiment(config: ExperimentConfig, *, run_dir: str | Path,
                   cache_dir: str | Path | None = None, callbacks: Sequence[EventCallback] = (),
                   should_stop: Callable[[], bool] | None = None, resume: bool = False,
                   num_workers: int | None = None, skip_unreadable: bool = False,
                   dataset: Dataset | None = None) -> ExperimentResult:
    """Run (or, with ``resume``, continue) one experiment and write its run folder.

    ``dataset`` is the config's dataset when the caller has already opened it (to check it before
    registering the run): it is not scanned again.

    Raises the engine's ``AvcError`` subclasses for bad datasets, missing weights, unreadable videos
    and mismatched checkpoints.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = RunFolder(run_dir).config
    if resume:
        saved = ExperimentConfig.from_json(config_path.read_text()) if config_path.exists() else None
        if saved is not None and saved.hash() != config.hash():
            raise ConfigError(f"{run_dir} holds a different experiment; resume it with its own "
                              "config (config.json)")
    atomic_write(config_path, config.to_json())

    dataset = dataset if dataset is not None else open_dataset(config)
    cache = FeatureCache(cache_dir or default_cache_dir())
    spec = extraction_spec(config)
    report = None
    if not dataset.brings_features:  # videos: run the backbone (or find its cached maps)
        report = prepare_features(config, dataset, cache=cache, callbacks=callbacks,
                                  should_stop=should_stop, num_workers=num_workers,
                                  skip_unreadable=skip_unreadable, spec=spec)
    extracted_at = time.perf_counter()
    unreadable = {str(p): reason for p, reason in report.failed.items()} if report else {}
    if report is not None and report.cancelled:
        return ExperimentResult(run_dir, config, dataset.classes, 0, None, [], 0, 0, 0, unreadable,
                                {"extract": extracted_at - started}, cancelled=True)

    head = config.head
    preset = PRESETS[config.train.preset]
    batch_size = config.train.batch_size or preset.batch_size_for(config.features.backbone)
    device = resolve_device(config.train.device)
    normalizer = FeatureNormalizer(head.normalize)
    warnings: list[str] = []
    if dataset.stream is not None:
        frames = head.frames or get_head_spec(head.name).default_frames or MAX_FRAMES
        train_set, val_set, test_set = stream_sets(
            dataset.stream, config, frames=frames, batch_size=batch_size, workers=num_workers,
            pin_memory=device.type == "cuda")
        in_dim = RGB_DIM + AUDIO_DIM
    else:
        source = _Features(dataset, report, cache, spec)
        # ABDN's T is the mean frame count; features that come with the data (YouTube-8M,
        # already capped at 300 seconds) keep every frame, as the starter reader does.
        counts = source.counts()
        frames = (head.frames or get_head_spec(head.name).default_frames
                  or (max(counts) if dataset.load_features else expected_frames(counts)))
        warnings = _feature_warnings(counts, head.normalize)
        for message in warnings:
            emit(callbacks, RunWarning(message))
        train_all = source.sequences(dataset.train, frames, head.reduction)
        test_set = source.sequences(dataset.test, frames, head.reduction)
        normalizer.fit(train_all)
        train_all, test_set = normalizer(train_all), normalizer(test_set)
        if preset.validation == "holdout":
            train_idx, val_idx = holdout_split(train_all.labels, preset.holdout_fraction,
                                               config.train.seed)
            train_set, val_set = train_all.subset(train_idx), train_all.subset(val_idx)
        else:
            train_set, val_set = train_all, test_set
        # A reduced frame is a vector of in_dim; heads that read the conv maps get their
        # channels.
        in_dim = (int(torch.tensor(train_set.item_shape).prod()) if head.reduction != "none"
                  else train_set.item_shape[0])
    # Seed here, not earlier: whether extraction ran (and drew random numbers) must not change
    # the head's initial weights.
    torch.manual_seed(config.train.seed)
    # Resuming, the checkpoint fills every weight: no starting weights are read (their file may
    # have moved since the run began).
    model = build_head(head.name, in_dim=in_dim, num_classes=len(dataset.classes),
                       frames=frames, options=head.options, multilabel=dataset.multilabel,
                       restoring=resume)
    settings = TrainSettings(
        preset=preset,
        epochs=config.train.epochs or preset.epochs,
        batch_size=batch_size,
        lr=config.train.lr or preset.lr,
        seed=config.train.seed,
        device=device,
        precision=resolve_precision(config.train.precision, device),
        use_mask=head.mask,
        checkpoint_every=config.train.checkpoint_every,
    )
    extra = {
        "config": config.to_json(indent=None),
        "classes": list(dataset.classes),
        "frames": frames,
        "in_dim": in_dim,
        "feature_shape": list(feature_shape(config.features.backbone, spec.input_size)),
        "input_size": spec.input_size,
        "feature_precision": spec.precision,  # what prediction extracts in
        "multilabel": dataset.multilabel,
        **normalizer.state(),
    }
    if config.train.processes > 1:
        # Rank 0's own share of the training stream: what it met is what the run reports.
        outcome, train_set, val_set = _train_data_parallel(
            config, dataset, model, settings, frames=frames, in_dim=in_dim, run_dir=run_dir,
            extra=extra, callbacks=callbacks, should_stop=should_stop, resume=resume,
            workers=num_workers)
    else:
        outcome = train_head(model, train_set, val_set, len(dataset.classes), settings,
                             run_dir=run_dir, checkpoint_extra=extra, callbacks=callbacks,
                             should_stop=should_stop, resume=resume)
    trained_at = time.perf_counter()
    test = None
    if outcome.epochs_run > 0:
        test = final_metrics(model, outcome.selected_path, test_set, len(dataset.classes), settings)
    result = ExperimentResult(
        run_dir=run_dir, config=config, classes=list(dataset.classes), frames=frames, test=test,
        history=outcome.history, epochs_run=outcome.epochs_run,
        selected_epoch=outcome.selected_epoch,
        parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        unreadable=unreadable,
        seconds={"extract": extracted_at - started, "train": trained_at - extracted_at,
                 "total": time.perf_counter() - started},
        cancelled=outcome.cancelled, stopped_early=outcome.stopped_early, warnings=warnings,
        precision={"features": spec.precision, "training": settings.precision},
        loading="stream" if dataset.stream is not None else "memory",
    )
    if not outcome.cancelled:
        body = result.to_dict()
        split = dict(dataset.split)
        if dataset.stream is not None:  # what the stream met: counted as the in-memory layout does
            damaged = list({**train_set.damaged, **val_set.damaged, **test_set.damaged})
            if damaged:
                split.update(damaged=len(damaged), damaged_examples=damaged[:3])
        body["dataset"] = {"name": dataset.name, "layout": dataset.layout, "split": split,
                           "train": len(train_set), "val": len(val_set), "test": len(test_set)}
        atomic_write(RunFolder(run_dir).result, json.dumps(body, indent=2))
    return result
