"""A dataset's videos → YouTube-8M frame-level records that the ``youtube8m`` layout reads.

Per video, one row per second, at most :data:`DEFAULT_MAX_SECONDS` (300, the frames google's
``frame_iterator`` keeps, ``max_num_frames=300``) unless asked otherwise:

1. rgb: Inception-v3 at 299 px on the frames sampled at 1 fps (``fps:1``, the frames at
   t = 0, 1, 2 … s; through avc's feature cache, so a second run re-uses them), each frame's
   (2048, 8, 8) map averaged over space (Inception's pool_3);
2. audio: the VGGish embedding of the 0.96 s starting at each of those seconds
   (:mod:`core.yt8m_features.audio`; the audio stream aligned to the video stream's start);
3. each modality PCA'd with whitening (1,024 rgb, 128 audio components; a loaded folder, or fitted
   on the training videos and saved in ``OUT/pca/rgb`` and ``OUT/pca/audio``), then quantised to
   8 bits (:func:`core.data.youtube8m.quantize`).

The frame count is the rgb one: the seconds at which a frame was sampled (a 10.1 s video has 11,
the last at t = 10 s). Audio is cut to those seconds; what is missing at the end is padded with
silence and reported per video (under a second is normal: the last second is partial).

A video without an audio stream is never passed over silently. ``no_audio="zeros"`` writes audio
rows of byte 0 (−2 once dequantised), as google's ``extract_tfrecords_main.py``
(``insert_zero_audio_features``) does "to use YouTube-8M pre-trained model"; ``"mean"`` writes
byte 128 (the PCA space's zero vector, the training audio's mean); both list the video as flagged.
``"skip"`` leaves it out and lists it. When no training video has audio there is no audio PCA
(unless one is loaded): the test videos that have audio are then handled as videos without audio,
by the same choice, and a warning says so. Videos that cannot be decoded are left out and listed.
Everything is in ``OUT/report.json``, with the warnings (a PCA that avc did not fit, a fitted PCA
of lower rank than its components).

Two passes keep memory independent of the dataset's size: pass 1 extracts (or finds in the cache)
every video's Inception maps and computes its VGGish embeddings (kept in a work folder on disk),
adding the training videos' features to running sums (:class:`core.yt8m_features.pca.PcaSums`,
32 MB for rgb); after the fits, pass 2 reads each video's features back, applies the PCA and writes
the records one video at a time. Everything is written into a hidden ``OUT/.yt8m-partial-…``
folder and moved into ``OUT`` at the end (``report.json`` last), so a run that stops half-way
leaves no records that ``--layout youtube8m`` would read; the next run removes such leftovers.

The train part of the dataset's split goes to ``train0000.tfrecord`` …, the test part to
``validate0000.tfrecord`` … (so that split 1 of the ``youtube8m`` layout trains and tests on the
same videos), and ``vocabulary.csv`` names the classes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import atomic_write
from core.data.dataset import Dataset, VideoItem
from core.data.youtube8m import (
    AUDIO_DIM,
    RGB_DIM,
    Yt8mVideo,
    dequantize,
    quantize,
    write_frame_level,
)
from core.errors import ConfigError, VideoDecodeError
from core.events import EventCallback, ExtractionFinished, ExtractionStarted, VideoExtracted, emit
from core.yt8m_features.audio import (
    SAMPLE_RATE,
    decode_audio,
    has_audio_stream,
    samples_needed,
    second_examples,
)
from core.yt8m_features.pca import Pca, PcaSums, load_pca

INCEPTION = "inceptionv3"
INCEPTION_SIZE = 299
POOL_DIM = 2048  # Inception-v3's pool_3
VGGISH_DIM = 128
DEFAULT_MAX_SECONDS = 300  # google's frame_iterator: max_num_frames=300
NO_AUDIO_CHOICES = ("zeros", "mean", "skip")
NO_AUDIO_BYTE = {"zeros": 0, "mean": 128}
REPORT = "report.json"
PARTITIONS = {"train": "train", "test": "validate"}
PARTIAL_PREFIX = ".yt8m-partial-"
HINT = "`avc data yt8m-records --help` lists its options and their accepted values"
PCA_OPTIONS = {"rgb": "--rgb-pca", "audio": "--audio-pca"}


@dataclass(frozen=True)
class Yt8mFeatureOptions:
    """How :func:`write_yt8m_records` computes the features; validated on construction
    (``ConfigError``)."""

    inception_weights: str = "imagenet"
    vggish_weights: str = "audioset"
    rgb_pca: Path | None = None  # a folder in google's layout; None: fit on the training videos
    audio_pca: Path | None = None
    no_audio: str = "zeros"
    max_seconds: int | None = DEFAULT_MAX_SECONDS  # None: every second
    videos_per_file: int = 1000
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    batch_frames: int = 64

    def __post_init__(self) -> None:
        if self.no_audio not in NO_AUDIO_CHOICES:
            raise ConfigError(f"unknown no-audio choice {self.no_audio!r}",
                              hint=f"pass --no-audio one of: {', '.join(NO_AUDIO_CHOICES)}")
        for name in ("videos_per_file", "batch_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}",
                                  hint=f"pass --{name.replace('_', '-')} 1 or more")
        if self.max_seconds is not None and self.max_seconds < 1:
            raise ConfigError(f"max_seconds must be at least 1, got {self.max_seconds}",
                              hint="pass --max-seconds 1 or more (0 on the command line: every "
                                   "second)")


@dataclass
class Yt8mRecordsReport:
    """What :func:`write_yt8m_records` wrote and what it left out, and how long each part took."""

    out: Path
    files: list[Path] = field(default_factory=list)
    videos: dict[str, int] = field(default_factory=dict)  # partition → videos written
    seconds: int = 0  # seconds of video written (rows per modality)
    flagged_no_audio: list[str] = field(default_factory=list)
    skipped_no_audio: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    audio_padded: dict[str, float] = field(default_factory=dict)  # id → seconds of silence added
    audio_offset: dict[str, float] = field(default_factory=dict)  # id → audio start − video start
    warnings: list[str] = field(default_factory=list)
    no_audio: str = "zeros"
    rgb_pca: str = ""
    audio_pca: str = ""
    rgb_cached: int = 0  # videos whose Inception maps were in the feature cache already
    rgb_seconds: float = 0.0  # wall time of the Inception pass
    audio_seconds: float = 0.0  # wall time of decoding + log-mel + VGGish

    def to_dict(self) -> dict:
        return {
            "out": str(self.out), "files": [p.name for p in self.files], "videos": self.videos,
            "seconds_of_video": self.seconds, "flagged_no_audio": self.flagged_no_audio,
            "skipped_no_audio": self.skipped_no_audio, "no_audio": self.no_audio,
            "no_audio_byte": NO_AUDIO_BYTE.get(self.no_audio), "unreadable": self.unreadable,
            "audio_padded_seconds": self.audio_padded,
            "audio_offset_seconds": self.audio_offset, "rgb_pca": self.rgb_pca,
            "audio_pca": self.audio_pca, "warnings": self.warnings,
            "timing": {"rgb_s": round(self.rgb_seconds, 3), "rgb_cached_videos": self.rgb_cached,
                       "audio_s": round(self.audio_seconds, 3)},
        }


@dataclass
class _Video:
    item: VideoItem
    id: str
    partition: str
    has_audio: bool = True  # an audio stream whose embeddings go into the records
    hash: str = ""  # the Inception maps' cache key
    frames: int = 0
    audio_file: Path | None = None  # (frames, 128) float32 VGGish embeddings, in the work folder


def video_id(item: VideoItem, root: Path) -> str:
    """The record id of a video: its path under the dataset root (else its file name)."""
    try:
        return Path(item.path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(item.path).name


def pool_features(maps: np.ndarray, *, chunk: int = 32) -> np.ndarray:
    """Inception's pool_3: the spatial mean of (n, 2048, h, w) maps, float32 (n, 2048), computed
    ``chunk`` frames at a time (the cache's float16 maps are not copied whole to float32)."""
    maps = np.asarray(maps)
    out = np.empty(maps.shape[:2], dtype=np.float32)
    for start in range(0, len(maps), chunk):
        out[start:start + chunk] = maps[start:start + chunk].astype(np.float32).mean(axis=(2, 3))
    return out


def _existing_records(out: Path) -> list[Path]:
    return sorted(p for part in PARTITIONS.values() for p in out.glob(f"{part}*.tfrecord"))


def _labels(dataset: Dataset, item: VideoItem) -> tuple[int, ...]:
    return tuple(sorted(item.labels)) if dataset.multilabel else (int(item.label),)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _check_out(out: Path) -> list[str]:
    """Fail fast when ``out`` cannot take the records; remove the partial folders of interrupted
    runs. Returns warnings. Creates nothing."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output folder {out} is an existing file",
                          hint="pass `avc data yt8m-records ROOT OUT` a folder for OUT (new or "
                               "empty)")
    existing = _existing_records(out) if out.is_dir() else []
    if existing:
        raise ConfigError(f"{out} already holds YouTube-8M records ({existing[0].name}, …)",
                          hint="pass `avc data yt8m-records` an empty OUT folder, or delete the "
                               "old records")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        what = "is not a folder" if not ancestor.is_dir() else "is not writable"
        raise ConfigError(f"cannot write into {out}: {ancestor} {what}",
                          hint="pass `avc data yt8m-records ROOT OUT` an OUT folder you can "
                               "write to")
    warnings = []
    for partial in sorted(out.glob(f"{PARTIAL_PREFIX}*")) if out.is_dir() else []:
        pid = partial.name[len(PARTIAL_PREFIX):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            raise ConfigError(f"another run (process {pid}) is writing into {out} ({partial.name})",
                              hint="wait for it to finish, or delete that folder if no "
                                   "`avc data yt8m-records` is running")
        shutil.rmtree(partial, ignore_errors=True)
        warnings.append(f"removed {partial.name}, left in {out} by an interrupted run")
    return warnings


def _load(directory: Path | None, name: str, components: int, dims: int) -> Pca | None:
    """Load the ``name`` PCA folder, re-raising its errors with a hint naming the option."""
    if directory is None:
        return None
    try:
        return load_pca(directory, components, dims=dims)
    except ConfigError as exc:
        raise ConfigError(
            f"{PCA_OPTIONS[name]}: {exc.message}",
            hint=f"pass {PCA_OPTIONS[name]} a folder of mean.npy ({dims} × 1), eigenvals.npy "
                 f"(≥ {components} × 1) and eigenvecs.npy (≥ {components} × {dims}) — "
                 f"OUT/pca/{name} of an earlier `avc data yt8m-records` run — or leave it out to "
                 "fit one on the training videos") from exc


def _loaded_warnings(pca: Pca, name: str, features: str) -> list[str]:
    if not pca.by_avc:
        if name == "rgb":
            return [f"the rgb PCA in {pca.info['loaded_from']} was not fitted by avc (no avc "
                    "pca.json): google's yt8m_pca.tgz was fitted on TensorFlow's "
                    "inception-2015-12-05 graph, not torchvision's Inception-v3, so these bytes "
                    "look valid but are not YouTube-8M-compatible; fit the PCA on your videos "
                    "instead (leave --rgb-pca out)"]
        return [f"the audio PCA in {pca.info['loaded_from']} was not fitted by avc (no avc "
                "pca.json): avc cannot check that it was fitted on these VGGish embeddings"]
    fitted_on = pca.info.get("features")
    if fitted_on and fitted_on != features:
        return [f"the {name} PCA in {pca.info['loaded_from']} was fitted on {fitted_on}, "
                f"this run computes {features}"]
    return []


def _rank_warning(pca: Pca, name: str) -> list[str]:
    rank, components = int(pca.info.get("rank", pca.components)), pca.components
    if rank >= components:
        return []
    return [f"the {name} PCA was fitted on {pca.info.get('fitted_on_seconds')} seconds of "
            f"training video, rank {rank} < {components} components: components {rank}… are "
            "left at the mean (byte 128); fit it on more training video (at least "
            f"{components + 1} seconds), or pass {PCA_OPTIONS[name]} from a larger run"]


def write_vocabulary(path: Path, classes: Sequence[str]) -> Path:
    """Write a YouTube-8M ``vocabulary.csv`` (``Index,Name``) naming ``classes``; returns its
    path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Index", "Name"])
    writer.writerows(enumerate(classes))
    return atomic_write(path, buffer.getvalue())


def write_yt8m_records(
    dataset: Dataset, out: str | Path, cache, options: Yt8mFeatureOptions = Yt8mFeatureOptions(),
    *, callbacks: Sequence[EventCallback] = (),
) -> Yt8mRecordsReport:
    """Compute every video's YouTube-8M features and write them as frame-level records in ``out``.

    ``cache`` is the :class:`core.features.FeatureCache` that the Inception maps go through.
    Returns the report (also written to ``out/report.json``).

    Raises:
        ConfigError: the dataset brings its own features, ``out`` is a file, not writable or
            already holds records, a PCA folder is missing or mis-shaped, or there is nothing to
            fit a PCA on. Each with a hint naming this command's options.
        WeightsUnavailable: Inception's or VGGish's weights are missing.
    """
    try:
        return _write(dataset, Path(out), cache, options, callbacks)
    except ConfigError as exc:
        if exc.hint == ConfigError.default_hint:  # e.g. from ExtractionSpec: not `avc run --help`
            exc.hint = HINT
        raise


def _write(dataset: Dataset, out: Path, cache, options: Yt8mFeatureOptions,
           callbacks: Sequence[EventCallback]) -> Yt8mRecordsReport:
    import torch

    from core.devices import resolve_device
    from core.features import ExtractionSpec
    from core.sampling import Sampling
    from core.yt8m_features.vggish import build_vggish, weights_identity

    if dataset.load_features is not None:
        raise ConfigError(f"the {dataset.layout} layout comes with its features: there are no "
                          "videos to compute YouTube-8M features from",
                          hint="pass `avc data yt8m-records` a folder of videos (--layout "
                               "folders, ucf101, …)")
    # Everything that can fail fast does so before the long passes, and creates nothing.
    report = Yt8mRecordsReport(out=out, no_audio=options.no_audio)
    report.warnings += _check_out(out)
    rgb_pca = _load(options.rgb_pca, "rgb", RGB_DIM, POOL_DIM)
    audio_pca = _load(options.audio_pca, "audio", AUDIO_DIM, VGGISH_DIM)
    vggish = build_vggish(options.vggish_weights, seed=options.seed)
    device = resolve_device(options.device)
    vggish = vggish.to(device)
    spec = ExtractionSpec.create(
        INCEPTION, weights=options.inception_weights, input_size=INCEPTION_SIZE,
        sampling=Sampling(mode="fps", fps=1.0, max_frames=options.max_seconds),
        init_seed=options.seed, device=options.device)
    features = {"rgb": f"{INCEPTION} {spec.weights_identity} pool_3 at {spec.sampling.key()}",
                "audio": f"vggish {weights_identity(options.vggish_weights, seed=options.seed)}"}
    for name, pca in (("rgb", rgb_pca), ("audio", audio_pca)):
        if pca is not None:
            report.warnings += _loaded_warnings(pca, name, features[name])

    videos: list[_Video] = []
    for part, items in (("train", dataset.train), ("test", dataset.test)):
        for item in items:
            video = _Video(item, video_id(item, dataset.root), part)
            try:
                video.has_audio = has_audio_stream(item.path)
            except VideoDecodeError as exc:
                report.unreadable[video.id] = exc.message
                continue
            if not video.has_audio and options.no_audio == "skip":
                report.skipped_no_audio.append(video.id)
                continue
            videos.append(video)
    if audio_pca is None and not any(v.has_audio for v in videos if v.partition == "train"):
        videos = _without_audio_pca(videos, report, options.no_audio)
    report.flagged_no_audio += [v.id for v in videos if not v.has_audio
                                and v.id not in report.flagged_no_audio]

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f"{PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        partial.mkdir()
        videos, rgb_sums, audio_sums = _pass_one(videos, report, cache, spec, vggish, options,
                                                 partial, fit_rgb=rgb_pca is None,
                                                 fit_audio=audio_pca is None,
                                                 callbacks=callbacks)
        del vggish
        if device.type == "cuda":
            torch.cuda.empty_cache()
        fitted = []
        if rgb_pca is None:
            if not rgb_sums.count:
                raise ConfigError("no training video to fit the rgb PCA on",
                                  hint="check the dataset's split (--split), or pass "
                                       "`avc data yt8m-records` --rgb-pca DIR")
            rgb_pca, report.rgb_pca = _fit(rgb_sums, "rgb", RGB_DIM, features["rgb"], partial, out)
            report.warnings += _rank_warning(rgb_pca, "rgb")
            fitted.append("rgb")
        else:
            report.rgb_pca = f"loaded from {rgb_pca.info['loaded_from']}"
        if audio_pca is None and audio_sums.count:
            audio_pca, report.audio_pca = _fit(audio_sums, "audio", AUDIO_DIM, features["audio"],
                                               partial, out)
            report.warnings += _rank_warning(audio_pca, "audio")
            fitted.append("audio")
        elif audio_pca is None:
            report.audio_pca = "none: no training video has audio"
            videos = _without_audio_pca(videos, report, options.no_audio)
            report.flagged_no_audio += [v.id for v in videos if not v.has_audio
                                        and v.id not in report.flagged_no_audio]
        else:
            report.audio_pca = f"loaded from {audio_pca.info['loaded_from']}"

        _pass_two(videos, report, dataset, cache, spec, rgb_pca, audio_pca, options, partial)
        write_vocabulary(partial / "vocabulary.csv", dataset.classes)
        atomic_write(partial / REPORT, json.dumps({**report.to_dict(), "inception": {
            "weights": spec.weights_identity, "input_size": spec.input_size,
            "sampling": spec.sampling.key()}, "vggish": weights_identity(
                options.vggish_weights, seed=options.seed)}, indent=2) + "\n")
        # Into place: the PCA, the records and the vocabulary, then the report.
        for name in fitted:
            target = out / "pca" / name
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(partial / "pca" / name, target)
        for path in [*report.files, out / "vocabulary.csv", out / REPORT]:
            os.replace(partial / path.name, path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(partial, ignore_errors=True)
    return report


def _without_audio_pca(videos: list[_Video], report: Yt8mRecordsReport,
                       no_audio: str) -> list[_Video]:
    """There is no audio PCA: handle the videos with audio as videos without, by ``no_audio``."""
    affected = [v for v in videos if v.has_audio]
    if not affected:
        return videos
    what = "left out" if no_audio == "skip" else f"written with --no-audio {no_audio} rows"
    report.warnings.append(
        f"no training video has audio, so there is no audio PCA: the {len(affected)} videos with "
        f"audio are {what}, as videos without audio; pass --audio-pca DIR (an earlier run's "
        "OUT/pca/audio) to keep their audio")
    for video in affected:
        video.has_audio = False
        video.audio_file = None
    if no_audio == "skip":
        report.skipped_no_audio += [v.id for v in affected]
        return [v for v in videos if v not in affected]
    return videos


def _pass_one(videos: list[_Video], report: Yt8mRecordsReport, cache, spec, vggish,
              options: Yt8mFeatureOptions, partial: Path, *, fit_rgb: bool, fit_audio: bool,
              callbacks: Sequence[EventCallback]) -> tuple[list[_Video], PcaSums, PcaSums]:
    """Inception maps into the cache, VGGish embeddings into ``partial/audio``, and the training
    videos' features into running sums. Returns the videos that were readable."""
    from core.features import extract_features
    from core.yt8m_features.vggish import embed

    rgb_sums, audio_sums = PcaSums(POOL_DIM), PcaSums(VGGISH_DIM)
    started = time.perf_counter()
    extraction = extract_features([v.item.path for v in videos], spec, cache,
                                  device=options.device, batch_frames=options.batch_frames,
                                  num_workers=options.workers, callbacks=callbacks)
    readable = []
    for video in videos:
        path = Path(video.item.path)
        if path in extraction.failed:
            report.unreadable[video.id] = extraction.failed[path]
            continue
        video.hash = extraction.hashes[path]
        if fit_rgb and video.partition == "train":
            rgb = pool_features(cache.load(spec, video.hash).features)
            video.frames = len(rgb)
            rgb_sums.add(rgb)
            del rgb
        else:
            video.frames = cache.frame_count(spec, video.hash)
        readable.append(video)
    report.rgb_seconds = time.perf_counter() - started
    report.rgb_cached = extraction.cached

    started = time.perf_counter()
    audible = [v for v in readable if v.has_audio]
    (partial / "audio").mkdir()
    emit(callbacks, ExtractionStarted("vggish", len(audible), 0))
    failed = seconds = 0
    for done, (index, video) in enumerate(((i, v) for i, v in enumerate(readable)
                                           if v.has_audio), start=1):
        error = None
        try:
            track = decode_audio(video.item.path, max_samples=samples_needed(video.frames))
        except VideoDecodeError as exc:
            error = report.unreadable[video.id] = exc.message
            failed += 1
        else:
            if abs(track.offset) >= 0.0005:
                report.audio_offset[video.id] = round(track.offset, 3)
            examples, padded = second_examples(track.samples, video.frames)
            del track
            if padded:
                report.audio_padded[video.id] = round(padded / SAMPLE_RATE, 3)
            embeddings = embed(vggish, examples).numpy()
            video.audio_file = partial / "audio" / f"{index:07d}.npy"
            np.save(video.audio_file, embeddings)
            if fit_audio and video.partition == "train":
                audio_sums.add(embeddings)
            seconds += video.frames
        emit(callbacks, VideoExtracted(done, len(audible), str(video.item.path), video.frames,
                                       False, error))
    report.audio_seconds = time.perf_counter() - started
    emit(callbacks, ExtractionFinished("vggish", len(audible), len(audible) - failed, 0, failed,
                                       seconds, report.audio_seconds))
    return [v for v in readable if v.id not in report.unreadable], rgb_sums, audio_sums


def _fit(sums: PcaSums, name: str, components: int, features: str, partial: Path,
         out: Path) -> tuple[Pca, str]:
    """Fit a PCA from ``sums``, save it in ``partial/pca/name`` and load the stored (float32)
    matrices back — a later run that loads them writes the same bytes for the same video."""
    fitted = sums.fit(components, fitted_on_videos=sums.videos, features=features)
    directory = fitted.save(partial / "pca" / name)
    return (load_pca(directory, components),
            f"fitted on {sums.videos} training videos, saved in {out / 'pca' / name}")


def _pass_two(videos: list[_Video], report: Yt8mRecordsReport, dataset: Dataset, cache, spec,
              rgb_pca: Pca, audio_pca: Pca | None, options: Yt8mFeatureOptions,
              partial: Path) -> None:
    """Apply the PCAs and write the records, one video in memory at a time."""
    fill = NO_AUDIO_BYTE.get(options.no_audio, 0)

    def records(part: list[_Video]) -> Iterator[Yt8mVideo]:
        for video in part:
            rgb = quantize(rgb_pca.apply(pool_features(cache.load(spec, video.hash).features)))
            if video.audio_file is None or audio_pca is None:
                audio = np.full((len(rgb), AUDIO_DIM), fill, dtype=np.uint8)
            else:
                audio = quantize(audio_pca.apply(np.load(video.audio_file)))
                video.audio_file.unlink()
            report.seconds += len(rgb)
            # Yt8mVideo holds dequantised values and the writer quantises them again:
            # quantize(dequantize(q)) == q for every byte, so the file holds exactly these bytes.
            yield Yt8mVideo(id=video.id, labels=_labels(dataset, video.item),
                            rgb=dequantize(rgb), audio=dequantize(audio))

    for partition, name in PARTITIONS.items():
        part = [v for v in videos if v.partition == partition]
        report.videos[name] = len(part)
        for shard, start in enumerate(range(0, len(part), options.videos_per_file)):
            write_frame_level(partial / f"{name}{shard:04d}.tfrecord",
                              records(part[start:start + options.videos_per_file]))
            report.files.append(report.out / f"{name}{shard:04d}.tfrecord")
