"""The ``avc`` command line: parse, call the engine, render with Rich.

Expected failures (``AvcError``) print one error line and a hint and exit with status 1; they never
show a traceback.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from avc_tui.console import ProgressReporter, console, err_console, fmt_pct, print_error
from core.errors import AvcError, VideoDecodeError

app = typer.Typer(
    name="avc",
    help="Attention-based video classification: reproduce ABDN and friends, run and compare them.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Datasets: write the bundled synthetic one, inspect a layout.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@app.callback()
def root(context: typer.Context) -> None:
    """Attention-based video classification: reproduce ABDN and friends, run and compare them.

    Without a command: the terminal UI in a terminal, this help otherwise.
    """
    if context.invoked_subcommand is not None:
        return
    import sys

    if sys.stdin.isatty() and sys.stdout.isatty():
        context.invoke(tui)
        raise typer.Exit()
    typer.echo(context.get_help())
    raise typer.Exit()


def handles_errors(command):
    """Turn an ``AvcError`` into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AvcError as error:
            print_error(error)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


# Options shared by extract and run -----------------------------------------------------------

Root = Annotated[Path, typer.Argument(help="Dataset root folder (ROOT/<class>/<video> for the "
                                      "folders layout).")]
Layout = Annotated[str, typer.Option(help="Dataset layout: folders, ucf101, hmdb51, kinetics, "
                                      "sports1m99.")]
Split = Annotated[str, typer.Option(help="'abdn' (seeded random 70/30) or an official split 1-3.")]
SplitSeed = Annotated[int, typer.Option(help="Seed of the abdn split.")]
Annotations = Annotated[Optional[Path], typer.Option(help="Folder of official split files.")]
Backbone = Annotated[Optional[str], typer.Option(
    "--backbone", "-b", help="CNN backbone (see `avc models`; default vgg16, or the layout's own "
                             "features: yt8m for youtube8m).")]
Weights = Annotated[str, typer.Option(help="'imagenet' (local cache only), 'none' (seeded random) "
                                      "or a path to a state-dict file.")]
InputSize = Annotated[Optional[int], typer.Option(help="Frame size in pixels (default: the "
                                                  "backbone's, 224 for the ABDN five).")]
SamplingOpt = Annotated[str, typer.Option("--sampling", help="fps:1 (ABDN), uniform:N, "
                                          "segments:N, all, with :max=N for fps/all.")]
CacheDir = Annotated[Optional[Path], typer.Option(help="Feature cache folder (default "
                                                  "$AVC_CACHE_DIR or ~/.cache/avc/features).")]
Workers = Annotated[Optional[int], typer.Option(help="Decoding worker processes.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
Db = Annotated[Optional[str], typer.Option("--db", envvar="AVC_DB_URL", help="Registry: a "
                                           "SQLAlchemy URL or an SQLite file (default "
                                           "experiments.db).", show_envvar=True)]
HeadOption = Annotated[Optional[list[str]], typer.Option(
    "--head-option", "-o", help="A head option as KEY=VALUE, e.g. hidden=128 (repeatable; see "
    "the README for each head's options).")]
SkipUnreadable = Annotated[bool, typer.Option(help="Leave out videos that cannot be decoded "
                                              "(they are listed) instead of stopping.")]


def parse_options(pairs: list[str]) -> dict:
    """``["hidden=128", "rnn=gru"]`` → {"hidden": 128, "rnn": "gru"}; values are JSON if they
    parse as JSON, text otherwise. Raises ``ConfigError`` for an item without ``=``."""
    from core.errors import ConfigError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"head option {pair!r} is not KEY=VALUE")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


DEFAULT_BACKBONE = "vgg16"


def _config(root: Path, *, layout: str, split: str, split_seed: int, annotations: Path | None,
            backbone: str | None, weights: str, input_size: int | None, sampling: str, head: str,
            reduction: str | None, frames: int | None, mask: bool | None, normalize: str,
            preset: str,
            epochs: int | None, batch_size: int | None, lr: float | None, seed: int, device: str,
            name: str | None, head_options: list[str] | None = None):
    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
    from core.data import layout_features
    from core.video import Sampling

    backbone = backbone or layout_features(layout) or DEFAULT_BACKBONE
    return ExperimentConfig(
        data=DataConfig(str(root.resolve()), layout=layout, split=split, split_seed=split_seed,
                        annotations=str(annotations.resolve()) if annotations else None),
        features=FeatureConfig(backbone, weights=weights, input_size=input_size,
                               sampling=Sampling.parse(sampling)),
        head=HeadConfig(head, reduction=reduction, frames=frames, mask=mask,
                        normalize=normalize, options=parse_options(head_options or [])),
        train=TrainConfig(preset, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                          device=device),
        name=name,
    )


# Commands ------------------------------------------------------------------------------------


@app.command()
@handles_errors
def models() -> None:
    """List the registered backbones, heads and training presets."""
    from rich.table import Table

    from core.backbones import BACKBONES, backbone_names, feature_shape
    from core.models.registry import HEADS, head_names
    from core.train import PRESETS

    table = Table(title="Backbones", title_justify="left")
    for col in ("name", "paper", "input", "conv map at input", "ImageNet weights", "notes"):
        table.add_column(col)
    for name in backbone_names():
        spec = BACKBONES[name]
        c, h, w = feature_shape(name)
        size = "—" if spec.kind == "precomputed" else str(spec.default_input_size)
        table.add_row(name, spec.paper_name, size, f"{c}×{h}×{w}",
                      spec.weights_filename or "—", spec.notes or ("ABDN grid" if spec.in_abdn_grid
                                                                   else ""))
    console.print(table)
    heads = Table(title="Heads", title_justify="left")
    for col in ("name", "family", "reductions", "description"):
        heads.add_column(col)
    for name in head_names():
        spec = HEADS[name]
        heads.add_row(name, spec.family, ", ".join(spec.reductions), spec.description)
    console.print(heads)
    presets = Table(title="Presets", title_justify="left")
    presets.add_column("name")
    presets.add_column("protocol")
    for preset in PRESETS.values():
        presets.add_row(preset.name, preset.description)
    console.print(presets)


@data_app.command("synth")
@handles_errors
def data_synth(
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


@data_app.command("synth-yt8m")
@handles_errors
def data_synth_yt8m(
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


@data_app.command("info")
@handles_errors
def data_info(root: Root, layout: Layout = "folders", split: Split = "abdn",
              split_seed: SplitSeed = 0, annotations: Annotations = None) -> None:
    """Show what a dataset folder holds under a layout and split."""
    from core.data import load_dataset

    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations)
    console.print(dataset.summary())
    counts: dict[int, list[int]] = {}
    for part, items in (("train", dataset.train), ("test", dataset.test)):
        for item in items:
            for label in item.labels if dataset.multilabel else (item.label,):
                counts.setdefault(label, [0, 0])[part == "test"] += 1
    from rich.table import Table

    table = Table("class", "train", "test",
                  caption="videos per class (a video counts once for each of its labels)"
                  if dataset.multilabel else None)
    for label, name in enumerate(dataset.classes):
        if label not in counts and dataset.multilabel:
            continue  # YouTube-8M has 3,862 classes; list the ones present
        train, test = counts.get(label, [0, 0])
        table.add_row(name, str(train), str(test))
    console.print(table)


@app.command()
@handles_errors
def extract(
    root: Root,
    backbone: Backbone = None,
    weights: Weights = "imagenet",
    input_size: InputSize = None,
    sampling: SamplingOpt = "fps:1",
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    device: Device = "auto",
    batch_frames: Annotated[int, typer.Option(help="Frames per CNN forward batch.")] = 64,
) -> None:
    """Run a backbone over every video of a dataset once and fill the feature cache."""
    from core.data import load_dataset
    from core.experiment import default_cache_dir
    from core.features import ExtractionSpec, FeatureCache, extract_features
    from core.video import Sampling

    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations)
    backbone = backbone or DEFAULT_BACKBONE
    spec = ExtractionSpec.create(backbone, weights=weights, input_size=input_size,
                                 sampling=Sampling.parse(sampling))
    cache = FeatureCache(cache_dir or default_cache_dir())
    console.print(dataset.summary())
    if dataset.load_features is not None:
        console.print(f"the {layout} layout comes with its features: nothing to extract")
        return
    with ProgressReporter() as reporter:
        report = extract_features([i.path for i in dataset.items()], spec, cache, device=device,
                                  batch_frames=batch_frames, num_workers=workers,
                                  callbacks=[reporter])
    console.print(f"{spec.backbone} @ {spec.input_size}px, {spec.sampling.key()}: "
                  f"{report.extracted} extracted, {report.cached} already cached, "
                  f"{len(report.failed)} unreadable, {report.seconds:.1f} s → {cache.spec_dir(spec)}")
    for path, reason in report.failed.items():
        console.print(f"[red]unreadable[/] {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
@handles_errors
def run(
    root: Root,
    backbone: Backbone = None,
    head: Annotated[str, typer.Option("--head", "-h", help="Head / attention mode "
                                      "(see `avc models`).")] = "cnn-lstm-attention",
    preset: Annotated[str, typer.Option(help="Training protocol: abdn or modern.")] = "abdn",
    epochs: Annotated[Optional[int], typer.Option(help="Override the preset's epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the batch size.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Override the learning rate.")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    weights: Weights = "imagenet",
    input_size: InputSize = None,
    sampling: SamplingOpt = "fps:1",
    reduction: Annotated[Optional[str], typer.Option(
        help="flatten (ABDN) or avg pooling of conv maps, none for heads that attend over "
             "space (default: the head's own).")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Sequence length T (default: mean frame "
                                                  "count, as ABDN).")] = None,
    mask: Annotated[Optional[bool], typer.Option(
        "--mask/--no-mask", help="Mask padded frames (default: no, as ABDN; yes for layouts "
                                 "that bring their features, as YouTube-8M's reader).")] = None,
    head_option: HeadOption = None,
    normalize: Annotated[str, typer.Option(help="Feature normalisation: none (ABDN), dataset "
                                           "(z-score) or video (centre each video over time, "
                                           "then z-score; for random weights).")] = "none",
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default avc-runs/<id>-"
                                                "<backbone>-<head>).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for the experiment.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="A tag (repeatable).")] = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    device: Device = "auto",
    skip_unreadable: SkipUnreadable = False,
    detach: Annotated[bool, typer.Option(help="Run in a background worker and return at "
                                         "once.")] = False,
    db: Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Register one experiment in the registry and run it; prints the result."""
    from avc_tui.registry import Registry
    from core.experiment import open_dataset

    config = _config(root, layout=layout, split=split, split_seed=split_seed,
                     annotations=annotations, backbone=backbone, weights=weights,
                     input_size=input_size, sampling=sampling, head=head, reduction=reduction,
                     frames=frames, mask=mask, normalize=normalize, preset=preset, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=device, name=name,
                     head_options=head_option)
    open_dataset(config)  # a bad dataset fails here, before anything is registered
    with Registry(db) as registry:
        row = registry.create(config, run_dir=out.resolve() if out else None, tags=tag or ())
        options = _worker_options(workers, cache_dir, skip_unreadable)
        if detach:
            _detach(registry, row.id, options, resume=False, as_json=as_json)
            return
        _run_in_foreground(registry, row.id, resume=False, as_json=as_json,
                           num_workers=workers, cache_dir=cache_dir,
                           skip_unreadable=skip_unreadable)


def _worker_options(workers: int | None, cache_dir: Path | None,
                    skip_unreadable: bool) -> list[str]:
    options = []
    if workers is not None:
        options += ["--workers", str(workers)]
    if cache_dir is not None:
        options += ["--cache-dir", str(cache_dir.resolve())]
    if skip_unreadable:
        options.append("--skip-unreadable")
    return options


def _detach(registry, experiment_id: int, options: list[str], *, resume: bool,
            as_json: bool) -> None:
    """Start a background worker for the experiment and say where to follow it."""
    from avc_tui.runner.devices import Slot, available_devices, plan_slots
    from avc_tui.runner.executor import Job, LocalExecutor

    row = registry.get(experiment_id)
    device = registry.config(experiment_id).train.device
    # A device chosen on the command line is kept; "auto" takes the first free slot's device.
    slot = (plan_slots(available_devices(), 1)[0] if device == "auto"
            else Slot(device, device, {}))
    job = Job(experiment_id, registry.url, slot, Path(row.run_dir) / "worker.log", resume=resume,
              options=options)
    handle = LocalExecutor().submit(job)
    if as_json:
        typer.echo(json.dumps({"id": experiment_id, "pid": handle.pid, "run_dir": row.run_dir,
                               "log": str(job.log)}))
        return
    console.print(f"experiment {experiment_id} started in the background (pid {handle.pid}); "
                  f"follow it with `avc show {experiment_id}` or `avc tui`; log: {job.log}",
                  highlight=False)


def _run_in_foreground(registry, experiment_id: int, *, resume: bool, as_json: bool,
                       num_workers: int | None = None, cache_dir: Path | None = None,
                       skip_unreadable: bool = False) -> None:
    from avc_tui.runner.job import execute

    with ProgressReporter(quiet=as_json) as reporter:
        status = execute(registry, experiment_id, resume=resume, callbacks=[reporter],
                         num_workers=num_workers, cache_dir=str(cache_dir) if cache_dir else None,
                         skip_unreadable=skip_unreadable)
    row = registry.get(experiment_id)
    if as_json:
        typer.echo(json.dumps({"id": row.id, "status": row.status, "run_dir": row.run_dir,
                               "error": row.error, **(row.result or {})}, indent=2))
    elif status == "finished":
        _print_result(row)
    if status == "cancelled":
        if not as_json:
            console.print(f"[yellow]cancelled[/] at epoch {row.epoch}; continue with "
                          f"`avc resume {row.id}`", highlight=False)
        raise typer.Exit(130)
    if status == "failed":
        if not as_json:
            err_console.print(f"[bold red]error:[/] experiment {row.id} failed: "
                              f"{_first_line(row.error)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else "")


def _print_result(row) -> None:
    from rich.table import Table

    from avc_tui.metrics_text import headline, per_class

    result = row.result or {}
    test = result.get("test") or {}
    seconds = result.get("seconds", {}).get("total", 0.0)
    console.print(
        f"[bold]{row.id} {row.name}[/]: test {headline(test)} "
        f"(epoch {result.get('selected_epoch')}/{result.get('epochs_run')}, "
        f"T={result.get('frames')}, {result.get('parameters', 0):,} parameters, "
        f"{seconds:.1f} s)", highlight=False)
    column, rows, left_out = per_class(result.get("classes", []), test)
    table = Table("class", column, title=f"Per-class test {column}", title_justify="left",
                  caption=f"and {left_out} more classes" if left_out else None)
    for name, value in rows:
        table.add_row(name, fmt_pct(value))
    console.print(table)
    if result.get("unreadable"):
        console.print(f"[yellow]{len(result['unreadable'])} unreadable videos were left out[/]")
    console.print(f"run folder: {row.run_dir}", highlight=False)


@app.command()
@handles_errors
def predict(
    model: Annotated[str, typer.Argument(help="A registry experiment id, a run folder or a "
                                         "checkpoint file.")],
    videos: Annotated[list[Path], typer.Argument(help="One or more video files; for a model "
                                                 "of YouTube-8M features, frame-level TFRecord "
                                                 "files.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show.")] = 5,
    device: Device = "auto",
    db: Db = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify videos with a trained model: top-k classes and per-frame attention.

    A model trained on YouTube-8M features (--layout youtube8m) takes frame-level TFRecord files
    instead and classifies every video in them. With an experiment id the answers are also
    recorded in the registry. A video that cannot be decoded, or a file that cannot be read, is
    reported and skipped, as is each damaged record; the exit status is then 1.
    """
    from avc_tui.prediction_view import render_prediction
    from core.predict import Predictor

    registry = None
    predictor = Predictor(_checkpoint(model, db), device=device)
    if model.isdigit() and not Path(model).exists():  # an experiment id: record the answers
        from avc_tui.registry import Registry

        registry, experiment_id = Registry(db, create=False), int(model)
    answers, failed = [], 0
    for video in videos:
        predictions, problems, error = _predict_one(predictor, video, top_k)
        if error is not None:  # report it, go on with the other files
            failed += 1
            print_error(error)
            answers.append({"video": str(video), "error": error.message})
            continue
        for problem in problems:  # damaged records: skipped, each reported
            failed += 1
            err_console.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)
            answers.append({"video": str(video), "error": problem})
        if predictor.precomputed and not predictions and not problems:
            err_console.print(f"[yellow]warning:[/] {video} holds no videos", highlight=False,
                              soft_wrap=True)
        for prediction in predictions:
            answer = prediction.to_dict()
            answers.append(answer)
            if registry is not None:
                registry.add_prediction(experiment_id, answer)
            if not as_json:
                render_prediction(prediction)
    if registry is not None:
        registry.close()
    if as_json:
        typer.echo(json.dumps(answers, indent=2))
    if failed:
        raise typer.Exit(1)


def _predict_one(predictor, path: Path, top_k: int) -> tuple[list, list[str], AvcError | None]:
    """``(predictions, damaged-record problems, error)`` for one argument of `avc predict`: a
    video file, or a TFRecord file of videos for a model of precomputed features."""
    from core.data.tfrecord import TFRecordError

    try:
        if predictor.precomputed:
            predictions, problems = predictor.predict_records(path, top_k=top_k)
            return predictions, problems, None
        return [predictor.predict(path, top_k=top_k)], [], None
    except (VideoDecodeError, TFRecordError) as error:
        return [], [], error


@app.command()
@handles_errors
def attention(
    model: Annotated[str, typer.Argument(help="A registry experiment id, a run folder or a "
                                         "checkpoint of a soft-attention or gla model.")],
    video: Annotated[Path, typer.Argument(help="A video file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The PNG to write.")] = Path(
        "attention.png"),
    frames: Annotated[int, typer.Option(help="How many frames to draw.")] = 6,
    device: Device = "auto",
    db: Db = None,
) -> None:
    """Draw where the model looked: each frame above its attention overlay, as a PNG."""
    from avc_tui.attention_image import save_attention_figure
    from core.predict import Predictor

    prediction = Predictor(_checkpoint(model, db), device=device).predict(video,
                                                                          keep_frames=True)
    path = save_attention_figure(prediction, out, frames=frames)
    drawn = min(frames, prediction.frames_used)
    console.print(f"{video} → {prediction.label}; the attention of {drawn} frames drawn to {path}",
                  highlight=False)


def _checkpoint(model: str, db: str | None) -> Path:
    """The checkpoint behind an experiment id, a run folder or a checkpoint path."""
    checkpoint = Path(model)
    if model.isdigit() and not checkpoint.exists():
        from avc_tui.registry import Registry

        with Registry(db, create=False) as registry:
            checkpoint = Path(registry.get(int(model)).run_dir)
    if checkpoint.is_dir():
        best = checkpoint / "best.pt"
        checkpoint = best if best.exists() else checkpoint / "checkpoint.pt"
    return checkpoint


@app.command()
@handles_errors
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Working folder for the synthetic "
                                            "dataset, the cache and the runs.")] = Path("avc-demo"),
    videos_per_class: Annotated[int, typer.Option(help="Synthetic videos per class.")] = 15,
    input_size: Annotated[int, typer.Option(help="Frame size for every backbone (reduced from "
                                            "224 so the demo runs on a CPU).")] = 64,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 25,
    batch_size: Annotated[int, typer.Option(help="Batch size per run.")] = 16,
    workers: Workers = None,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the data and the training.")] = 0,
    db: Db = None,
) -> None:
    """The main job: synthetic dataset → the 15 ABDN runs → comparison table.

    Every run is registered in the registry, so `avc ls` and `avc compare` show them.
    """
    from avc_tui.demo import run_demo

    run_demo(directory, videos_per_class=videos_per_class, input_size=input_size,
             epochs=epochs, batch_size=batch_size, workers=workers, device=device, seed=seed,
             db=db)


@app.command()
@handles_errors
def tui(db: Db = None) -> None:
    """The terminal UI: live dashboard, experiment details, compare, predict, launch."""
    from avc_tui.tui.app import AvcApp

    AvcApp(db).run()


def main() -> None:
    """Console-script entry point."""
    app()


# The registry commands (grid, ls, show, compare, cancel, resume, rm, export) attach to `app`.
import avc_tui.experiments_cli  # noqa: E402, F401

