"""`avc data synth`, `avc data synth-yt8m`, `avc data info` and `avc extract`: datasets and
the feature cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from avc_tui import control
from avc_tui.cli.options import (
    Annotations,
    AsJson,
    Backbone,
    CacheDir,
    Compile,
    Device,
    InputSize,
    Layout,
    Precision,
    Resize,
    Root,
    SamplingOpt,
    Split,
    SplitSeed,
    Weights,
    Workers,
)
from avc_tui.console import ProgressReporter, console
from core.sampling import Sampling


def synth(
    directory: Annotated[Path, typer.Argument(help="Folder to write the dataset into.")],
    videos_per_class: Annotated[int, typer.Option(help="Videos per class.")] = 15,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same videos.")] = 0,
) -> None:
    """Write the bundled synthetic motion dataset as real H.264 videos (ROOT/<class>/<video>)."""
    from rich.progress import Progress

    from core.data.synthetic import SyntheticSpec, write_synthetic_dataset

    spec = SyntheticSpec(videos_per_class=videos_per_class, seed=seed)
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("writing videos", total=len(spec.classes) * videos_per_class)
        summary = write_synthetic_dataset(
            directory, spec, progress=lambda done, total: progress.update(task, completed=done))
    console.print(f"wrote {len(summary.videos)} videos ({len(summary.classes)} classes, "
                  f"{summary.seconds:.0f} s of video) to {summary.root} "
                  f"in {time.perf_counter() - started:.1f} s")


def synth_yt8m(
    directory: Annotated[Path, typer.Argument(help="Folder to write the records into.")],
    videos: Annotated[int, typer.Option(help="Videos per partition (train, validate).")] = 150,
    classes: Annotated[int, typer.Option(help="Number of classes (labels per video: 1-3).")] = 10,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same records.")] = 0,
) -> None:
    """Write a small synthetic YouTube-8M frame-level set (TFRecords + vocabulary.csv)."""
    from core.data.youtube8m import synthesize

    started = time.perf_counter()
    paths = synthesize(directory, videos_per_split=videos, num_classes=classes, seed=seed)
    console.print(f"wrote {2 * videos} videos ({classes} classes) in {len(paths)} TFRecord files "
                  f"to {directory} in {time.perf_counter() - started:.1f} s; train with "
                  f"--layout youtube8m --backbone yt8m", highlight=False)


def info(root: Root, layout: Layout = "folders", split: Split = "abdn",
         split_seed: SplitSeed = 0, annotations: Annotations = None,
         as_json: AsJson = False) -> None:
    """Show what a dataset folder holds under a layout and split."""
    from rich.table import Table

    from core.data import load_dataset

    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations)
    counts: dict[int, list[int]] = {}
    for part, items in (("train", dataset.train), ("test", dataset.test)):
        for item in items:
            for label in item.labels if dataset.multilabel else (item.label,):
                counts.setdefault(label, [0, 0])[part == "test"] += 1
    if as_json:
        typer.echo(json.dumps({
            "name": dataset.name, "root": str(dataset.root), "layout": dataset.layout,
            "split": dataset.split, "multilabel": dataset.multilabel,
            "train": len(dataset.train), "test": len(dataset.test),
            "classes": [{"name": name, "train": counts.get(i, [0, 0])[0],
                         "test": counts.get(i, [0, 0])[1]}
                        for i, name in enumerate(dataset.classes)
                        if i in counts or not dataset.multilabel]}, indent=2, default=str))
        return
    console.print(dataset.summary())
    table = Table("class", "train", "test",
                  caption="videos per class (a video counts once for each of its labels)"
                  if dataset.multilabel else None)
    for label, name in enumerate(dataset.classes):
        if label not in counts and dataset.multilabel:
            continue  # YouTube-8M has 3,862 classes; list the ones present
        train, test = counts.get(label, [0, 0])
        table.add_row(name, str(train), str(test))
    console.print(table)


def extract(
    root: Root,
    backbone: Backbone = None,
    weights: Weights = "imagenet",
    input_size: InputSize = None,
    sampling: SamplingOpt = "fps:1",
    resize: Resize = "area",
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    device: Device = "auto",
    precision: Precision = "auto",
    compile: Compile = False,
    batch_frames: Annotated[int, typer.Option(help="Frames per CNN forward batch.")] = 64,
    as_json: AsJson = False,
) -> None:
    """Run a backbone over every video of a dataset once and fill the feature cache."""
    from core.data import load_dataset
    from core.experiment import default_cache_dir, unreadable_error
    from core.features import ExtractionSpec, FeatureCache, extract_features

    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations)
    spec = ExtractionSpec.create(backbone or control.DEFAULT_BACKBONE, weights=weights,
                                 input_size=input_size, sampling=Sampling.parse(sampling),
                                 resize=resize, precision=precision, compile=compile,
                                 device=device)
    cache = FeatureCache(cache_dir or default_cache_dir())
    if not as_json:
        console.print(dataset.summary())
    if dataset.load_features is not None:
        if as_json:
            typer.echo(json.dumps({"extracted": 0, "cached": 0, "unreadable": {},
                                   "note": f"the {layout} layout comes with its features"}))
            return
        console.print(f"the {layout} layout comes with its features: nothing to extract")
        return
    with ProgressReporter(quiet=as_json) as reporter:
        report = extract_features([i.path for i in dataset.items()], spec, cache, device=device,
                                  batch_frames=batch_frames, num_workers=workers,
                                  callbacks=[reporter])
    if as_json:
        typer.echo(json.dumps({
            "backbone": spec.backbone, "input_size": spec.input_size,
            "sampling": spec.sampling.key(), "precision": spec.precision,
            "compile": spec.compile, "videos": len(dataset.items()),
            "extracted": report.extracted, "cached": report.cached, "frames": report.frames,
            "seconds": round(report.seconds, 3), "cache": str(cache.spec_dir(spec)),
            "unreadable": {str(p): reason for p, reason in report.failed.items()}}, indent=2))
        if report.failed:
            raise typer.Exit(1)
        return
    console.print(f"{spec.backbone} @ {spec.input_size}px, {spec.sampling.key()}, "
                  f"{spec.precision}{' compiled' if spec.compile else ''}: "
                  f"{report.extracted} extracted, {report.cached} already cached, "
                  f"{len(report.failed)} unreadable, {report.seconds:.1f} s → "
                  f"{cache.spec_dir(spec)}")
    for reason in report.failed.values():
        console.print(f"[red]unreadable[/] {reason}", highlight=False)
    if report.failed:
        raise unreadable_error(report.failed, len(dataset.items()),
                               hint="fix or remove them and extract again; the other videos' "
                                    "features are cached, and a run with --skip-unreadable "
                                    "leaves these out")
