"""`avc data synth`, `avc data synth-yt8m`, `avc data info`, `avc data yt8m-records` and
`avc extract`: datasets and the feature cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

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
         loading: Annotated[str, typer.Option(
             help="youtube8m: auto (count the records of a selection too large for memory), "
                  "memory (read every record: classes counted) or stream.")] = "auto",
         as_json: AsJson = False) -> None:
    """Show what a dataset folder holds under a layout and split."""
    from rich.table import Table

    from core.config import DataConfig
    from core.data import load_dataset
    from core.data.yt8m_layout import wants_stream

    DataConfig(str(root), layout=layout, loading=loading)  # checks the loading
    stream = layout == "youtube8m" and wants_stream(root, split, loading)
    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations, stream=stream)
    if dataset.stream is not None:  # the records are counted, not read: no per-class counts
        source = dataset.stream
        if as_json:
            typer.echo(json.dumps({
                "name": dataset.name, "root": str(dataset.root), "layout": dataset.layout,
                "split": dataset.split, "multilabel": True, "streamed": True,
                "train_records": source.train_records, "test_records": source.test_records,
                "train_files": len(source.train_files), "test_files": len(source.test_files),
                "classes": len(dataset.classes)}, indent=2))
            return
        console.print(dataset.summary())
        console.print("videos per class need every record read: --loading memory (for a "
                      "selection that fits in memory)", highlight=False)
        return
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
    decoder: Annotated[str, typer.Option(
        help="Video decoder: auto (PyAV, else decord), pyav, decord, or torchcodec (the "
             "torchcodec extra and the system's FFmpeg libraries; it reads the files it decodes "
             "exactly, PyAV the rest). Every decoder gives the same frames, so the cache is "
             "shared.")] = "auto",
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
                                 device=device, decoder=decoder)
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
            "compile": spec.compile, "decoder": spec.decoder, "videos": len(dataset.items()),
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


NoAudio = Annotated[str, typer.Option(
    "--no-audio", help="A video without an audio stream: 'zeros' (audio rows of byte 0, i.e. -2, "
                       "as google's extract_tfrecords_main.py writes for YouTube-8M's pre-trained "
                       "models), 'mean' (byte 128, the training audio's mean) — both flagged in "
                       "report.json — or 'skip' (left out, listed).")]
VggishWeights = Annotated[str, typer.Option(
    help="VGGish weights: 'audioset' (the torchvggish port's vggish-10086976.pth in "
         "$AVC_WEIGHTS_DIR or the torch hub cache), 'none' (seeded random) or a state-dict file.")]
RgbPcaDir = Annotated[Optional[Path], typer.Option(
    "--rgb-pca",
    help="Folder with mean.npy, eigenvals.npy, eigenvecs.npy for the 2,048 rgb features (OUT/pca/"
         "rgb of an earlier run); default: fit on the training videos and save in OUT/pca/rgb. "
         "Google's yt8m_pca.tgz loads too, but it was fitted on TensorFlow's "
         "inception-2015-12-05 graph, not torchvision's Inception-v3: its bytes look valid but "
         "are not YouTube-8M-compatible (a warning says so).",
    show_default=False)]
AudioPcaDir = Annotated[Optional[Path], typer.Option(
    "--audio-pca",
    help="Folder with mean.npy, eigenvals.npy, eigenvecs.npy for the 128 VGGish values (OUT/pca/"
         "audio of an earlier run); default: fit on the training videos and save in "
         "OUT/pca/audio.",
    show_default=False)]


def yt8m_records(
    root: Root,
    out: Annotated[Path, typer.Argument(help="Folder to write the TFRecord files, vocabulary.csv, "
                                             "report.json and the fitted PCA into.")],
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    weights: Weights = "imagenet",
    vggish_weights: VggishWeights = "audioset",
    rgb_pca: RgbPcaDir = None,
    audio_pca: AudioPcaDir = None,
    no_audio: NoAudio = "zeros",
    max_seconds: Annotated[int, typer.Option(
        help="Keep at most this many seconds per video: 300, as google's frame_iterator "
             "(max_num_frames=300) and YouTube-8M's reader; 0: every second.")] = 300,
    videos_per_file: Annotated[int, typer.Option(help="Videos per TFRecord file.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of random weights ('none').")] = 0,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    device: Device = "auto",
    batch_frames: Annotated[int, typer.Option(help="Frames per Inception forward batch.")] = 64,
    as_json: AsJson = False,
) -> None:
    """Write a dataset's videos as YouTube-8M frame-level records (Inception rgb + VGGish audio at
    1 fps, PCA'd, 8-bit) that --layout youtube8m and NeXtVLAD read."""
    from core.data import load_dataset
    from core.errors import VideoDecodeError
    from core.experiment import default_cache_dir
    from core.features import FeatureCache
    from core.yt8m_features.pipeline import Yt8mFeatureOptions, write_yt8m_records

    options = Yt8mFeatureOptions(
        inception_weights=weights, vggish_weights=vggish_weights, rgb_pca=rgb_pca,
        audio_pca=audio_pca, no_audio=no_audio, max_seconds=max_seconds or None,
        videos_per_file=videos_per_file, seed=seed, device=device, workers=workers,
        batch_frames=batch_frames)
    dataset = load_dataset(root, layout=layout, split=split, seed=split_seed,
                           annotations=annotations)
    if not as_json:
        console.print(dataset.summary())
    cache = FeatureCache(cache_dir or default_cache_dir())
    # The summary below says what both passes did; the reporter draws their progress bars.
    with ProgressReporter(quiet=as_json, summaries=False) as reporter:
        report = write_yt8m_records(dataset, out, cache, options, callbacks=[reporter])
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        written = ", ".join(f"{n} {part}" for part, n in report.videos.items())
        seconds = report.seconds or 1
        cached = f", {report.rgb_cached} videos' rgb cached" if report.rgb_cached else ""
        console.print(
            f"wrote {written} videos ({report.seconds} s of video) in {len(report.files)} "
            f"TFRecord files to {out}; rgb {report.rgb_seconds / seconds:.2f} s and audio "
            f"{report.audio_seconds / seconds:.2f} s per video second{cached}", highlight=False)
        console.print(f"rgb PCA {report.rgb_pca}; audio PCA {report.audio_pca}", highlight=False)
        fill = {"zeros": "byte 0", "mean": "byte 128"}.get(report.no_audio, "")
        for video in report.flagged_no_audio:
            console.print(f"[yellow]no audio[/] {video}: audio rows of {fill} (flagged)",
                          highlight=False)
        for video in report.skipped_no_audio:
            console.print(f"[yellow]no audio[/] {video}: skipped", highlight=False)
        for video, seconds_padded in report.audio_padded.items():
            if seconds_padded < 1.0:
                continue  # the video's last frame starts less than a second before its end
            console.print(f"[yellow]short audio[/] {video}: {seconds_padded} s of silence "
                          "appended", highlight=False)
        for reason in report.unreadable.values():
            console.print(f"[red]unreadable[/] {reason}", highlight=False)
        for warning in report.warnings:
            console.print(f"[yellow]warning[/] {warning}", highlight=False)
        console.print(f"train with: avc run {out} --layout youtube8m --split 1 --head nextvlad "
                      "-o audio_dim=128",
                      highlight=False)
    if report.unreadable:
        first = next(iter(report.unreadable.values()))
        raise VideoDecodeError(
            f"{len(report.unreadable)} videos could not be decoded and are not in the records "
            f"(first: {first})",
            hint=f"the other videos' records are written; {out / 'report.json'} lists them all")
