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

from avc_tui.console import ProgressReporter, console, fmt_pct, print_error
from core.backbones import BACKBONES, backbone_names
from core.errors import AvcError, VideoDecodeError
from core.models.registry import HEADS, head_names
from core.train import PRESETS

app = typer.Typer(
    name="avc",
    help="Attention-based video classification: reproduce ABDN and friends, run and compare them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Datasets: write the bundled synthetic one, inspect a layout.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


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
Layout = Annotated[str, typer.Option(help="Dataset layout: folders, ucf101, hmdb51.")]
Split = Annotated[str, typer.Option(help="'abdn' (seeded random 70/30) or an official split 1-3.")]
SplitSeed = Annotated[int, typer.Option(help="Seed of the abdn split.")]
Annotations = Annotated[Optional[Path], typer.Option(help="Folder of official split files.")]
Backbone = Annotated[str, typer.Option("--backbone", "-b", help="CNN backbone (see `avc models`).")]
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
SkipUnreadable = Annotated[bool, typer.Option(help="Leave out videos that cannot be decoded "
                                              "(they are listed) instead of stopping.")]


def _config(root: Path, *, layout: str, split: str, split_seed: int, annotations: Path | None,
            backbone: str, weights: str, input_size: int | None, sampling: str, head: str,
            reduction: str, frames: int | None, mask: bool, normalize: str, preset: str,
            epochs: int | None, batch_size: int | None, lr: float | None, seed: int, device: str, name: str | None):
    from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
    from core.video import Sampling

    return ExperimentConfig(
        data=DataConfig(str(root.resolve()), layout=layout, split=split, split_seed=split_seed,
                        annotations=str(annotations.resolve()) if annotations else None),
        features=FeatureConfig(backbone, weights=weights, input_size=input_size,
                               sampling=Sampling.parse(sampling)),
        head=HeadConfig(head, reduction=reduction, frames=frames, mask=mask,
                        normalize=normalize),
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

    from core.backbones import feature_shape

    table = Table(title="Backbones", title_justify="left")
    for col in ("name", "paper", "input", "conv map at input", "ImageNet weights", "notes"):
        table.add_column(col)
    for name in backbone_names():
        spec = BACKBONES[name]
        c, h, w = feature_shape(name)
        table.add_row(name, spec.paper_name, str(spec.default_input_size), f"{c}×{h}×{w}",
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
            counts.setdefault(item.label, [0, 0])[part == "test"] += 1
    from rich.table import Table

    table = Table("class", "train", "test")
    for label, name in enumerate(dataset.classes):
        train, test = counts.get(label, [0, 0])
        table.add_row(name, str(train), str(test))
    console.print(table)


@app.command()
@handles_errors
def extract(
    root: Root,
    backbone: Backbone = "vgg16",
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
    spec = ExtractionSpec.create(backbone, weights=weights, input_size=input_size,
                                 sampling=Sampling.parse(sampling))
    cache = FeatureCache(cache_dir or default_cache_dir())
    console.print(dataset.summary())
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
    backbone: Backbone = "vgg16",
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
    reduction: Annotated[str, typer.Option(help="flatten (ABDN) or avg pooling of conv maps.")
                         ] = "flatten",
    frames: Annotated[Optional[int], typer.Option(help="Sequence length T (default: mean frame "
                                                  "count, as ABDN).")] = None,
    mask: Annotated[bool, typer.Option(help="Mask padded frames (ABDN did not).")] = False,
    normalize: Annotated[str, typer.Option(help="Feature normalisation: none (ABDN), dataset "
                                           "(z-score) or video (centre each video over time, "
                                           "then z-score; for random weights).")] = "none",
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default avc-runs/<time>-"
                                                "<backbone>-<head>).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for the experiment.")] = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    device: Device = "auto",
    skip_unreadable: SkipUnreadable = False,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last "
                                         "checkpoint.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train and evaluate one experiment; writes a run folder and prints the result."""
    from core.experiment import run_experiment

    config = _config(root, layout=layout, split=split, split_seed=split_seed,
                     annotations=annotations, backbone=backbone, weights=weights,
                     input_size=input_size, sampling=sampling, head=head, reduction=reduction,
                     frames=frames, mask=mask, normalize=normalize, preset=preset, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=device, name=name)
    if out is None:
        if resume:
            raise typer.BadParameter("--resume needs --out pointing at the run folder")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("avc-runs") / f"{stamp}-{config.features.backbone}-{config.head.name}"
    with ProgressReporter(quiet=as_json) as reporter:
        result = run_experiment(config, run_dir=out, cache_dir=cache_dir, callbacks=[reporter],
                                resume=resume, num_workers=workers,
                                skip_unreadable=skip_unreadable)
    if as_json:
        typer.echo(json.dumps({"run_dir": str(result.run_dir), **result.to_dict()}, indent=2))
        return
    if result.cancelled:
        console.print(f"[yellow]cancelled[/]; resume with --resume --out {result.run_dir}")
        raise typer.Exit(130)
    _print_result(result)


def _print_result(result) -> None:
    from rich.table import Table

    test = result.test
    console.print(
        f"[bold]{result.config.display_name}[/]: test top-1 [bold]{fmt_pct(test.top1)}%[/], "
        f"top-5 {fmt_pct(test.top5)}%, loss {test.loss:.4f} "
        f"(epoch {result.selected_epoch}/{result.epochs_run}, T={result.frames}, "
        f"{result.parameters:,} parameters, {result.seconds['total']:.1f} s)", highlight=False)
    table = Table("class", "accuracy", title="Per-class test accuracy", title_justify="left")
    for name, acc in zip(result.classes, test.per_class):
        table.add_row(name, fmt_pct(acc))
    console.print(table)
    if result.unreadable:
        console.print(f"[yellow]{len(result.unreadable)} unreadable videos were left out[/]")
    console.print(f"run folder: {result.run_dir}")


@app.command()
@handles_errors
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint file or a run folder.")],
    videos: Annotated[list[Path], typer.Argument(help="One or more video files.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many classes to show.")] = 5,
    device: Device = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify videos with a trained model: top-k classes and per-frame attention.

    A video that cannot be decoded is reported and skipped; the exit status is then 1.
    """
    from avc_tui.prediction_view import render_prediction
    from core.predict import Predictor

    if checkpoint.is_dir():
        best = checkpoint / "best.pt"
        checkpoint = best if best.exists() else checkpoint / "checkpoint.pt"
    predictor = Predictor(checkpoint, device=device)
    answers, failed = [], 0
    for video in videos:
        try:
            prediction = predictor.predict(video, top_k=top_k)
        except VideoDecodeError as error:  # report it, go on with the other videos
            failed += 1
            print_error(error)
            answers.append({"video": str(video), "error": error.message})
            continue
        answers.append(prediction.to_dict())
        if not as_json:
            render_prediction(prediction)
    if as_json:
        typer.echo(json.dumps(answers, indent=2))
    if failed:
        raise typer.Exit(1)


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
) -> None:
    """The main job: synthetic dataset → all 15 ABDN backbone × mode runs → comparison table."""
    from avc_tui.demo import run_demo

    run_demo(directory, videos_per_class=videos_per_class, input_size=input_size,
             epochs=epochs, batch_size=batch_size, workers=workers, device=device, seed=seed)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
