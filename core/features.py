"""The on-disk feature cache and the extraction pipeline that fills it.

The CNN runs once per dataset × backbone × weights × input size × sampling. Each video's conv maps
(N frames × C × h × w, float16) are stored under a key made of the extraction settings and the
video's content hash, so renaming or moving a dataset keeps its cache, and editing a video does not
read a stale entry. Every entry is written to a temporary name and renamed into place, so an
interrupted extraction never leaves a half-written entry that is later read as valid; a re-run skips
the finished videos. A lock file serialises two processes extracting the same settings: the second
waits and then finds everything cached.

Decoding and preprocessing run in DataLoader worker processes, overlapped with the forward pass.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import logging
import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, Dataset

from core.atomic import atomic_write
from core.backbones import (
    Backbone,
    BackboneKind,
    build_backbone,
    compile_backbone,
    extract_maps,
    get_backbone_spec,
    place_backbone,
    resolve_input_size,
    weights_id,
)
from core.choices import RESIZES
from core.devices import resolve_device
from core.errors import ConfigError, FeatureCacheError, VideoDecodeError
from core.events import EventCallback, ExtractionFinished, ExtractionStarted, VideoExtracted, emit
from core.lifeline import exit_with
from core.memory import keep_freed_memory
from core.precision import check_precision, resolve_precision
from core.sampling import Sampling
from core.video import check_decoder, check_opens, sample_frames

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


@dataclass(frozen=True)
class ExtractionSpec:
    """Everything that determines a video's conv maps, apart from the video itself."""

    backbone: str
    weights: str
    input_size: int
    sampling: Sampling
    init_seed: int = 0
    resize: str = "area"
    precision: str = "fp32"  # resolved: fp32, bf16 or fp16 (see core.precision)
    compile: bool = False
    # Which decoder reads the videos (core.video.BACKENDS, or auto): not in the cache key,
    # every decoder gives the same frames (one resize path; torchcodec only where exact).
    decoder: str = "auto"

    @classmethod
    def create(cls, backbone: str, *, weights: str = "imagenet", input_size: int | None = None,
               sampling: Sampling | None = None, init_seed: int = 0, resize: str = "area",
               precision: str = "fp32", compile: bool = False,
               device: str = "auto", decoder: str = "auto") -> ExtractionSpec:
        """Resolve defaults (input size, the precision ``auto`` means on ``device``) and validate
        the names; raises ``ConfigError``. A backbone without a network (pixels, precomputed
        features) has no precision or compilation to choose."""
        spec = get_backbone_spec(backbone)
        if resize not in RESIZES:
            raise ConfigError(f"unknown resize {resize!r}",
                              hint=f"choose one of: {', '.join(RESIZES)}")
        check_precision(precision)
        if spec.kind == BackboneKind.CNN:
            # A random-weight trunk may pass float16's range before its final rescale.
            precision = resolve_precision(precision, resolve_device(device),
                                          fp16_safe=weights != "none")
        else:
            precision, compile = "fp32", False
        check_decoder(decoder)
        return cls(spec.name, weights, resolve_input_size(spec, input_size),
                   sampling or Sampling(), init_seed, resize, precision, compile, decoder)

    @cached_property
    def weights_identity(self) -> str:
        """The weights' id in the cache key (see ``weights_id``), computed once per spec: for a
        weights file it hashes the whole file, and the cache asks for the key on every access.
        Raises ``WeightsUnavailable`` when the weights file is missing."""
        # cached_property writes the instance __dict__ directly, so it works on this frozen
        # dataclass and stays out of its fields: equality, hashing and repr are unchanged.
        return weights_id(self.backbone, self.weights, init_seed=self.init_seed)

    def identity(self) -> dict:
        """The JSON-able fields the cache key is made of (weights by identity, not by path)."""
        return {
            "format": CACHE_FORMAT,
            "backbone": self.backbone,
            "weights": self.weights_identity,
            "input_size": self.input_size,
            "sampling": self.sampling.key(),
            # Bilinear frames were scaled by the decoder before the one resize of core.video.
            "resize": "bilinear-after-decoding" if self.resize == "bilinear" else self.resize,
            # Only when not the default, so that fp32 eager entries keep their keys.
            **({"precision": self.precision} if self.precision != "fp32" else {}),
            **({"compile": True} if self.compile else {}),
        }

    @cached_property
    def _key(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True)
        return f"{self.backbone}-{self.input_size}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"

    def key(self) -> str:
        """The name of this spec's cache folder: backbone, input size and a hash of
        :meth:`identity`."""
        return self._key


@dataclass
class FeatureEntry:
    """One video's cached features: conv maps (N, C, h, w) float16, frame indices and times."""

    features: np.ndarray
    indices: np.ndarray
    times: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])


def content_hash(path: Path) -> str:
    """A hex digest of the file's bytes (BLAKE2b-160)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """A folder of extracted features: ``ROOT/<spec key>/<2 hex>/<video hash>.npz``.

    Video hashes are remembered in ``ROOT/hashes.json`` by (path, size, mtime), so a second run does
    not re-read every video.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._hash_memo: dict[str, list] | None = None

    # -- video identity --------------------------------------------------------------------------

    def _memo(self) -> dict[str, list]:
        if self._hash_memo is None:
            path = self.root / "hashes.json"
            try:
                self._hash_memo = json.loads(path.read_text())
            except (OSError, ValueError):
                self._hash_memo = {}
        return self._hash_memo

    def video_hash(self, path: Path) -> str:
        """The content hash of ``path``, from the memo when its size and mtime are unchanged."""
        path = Path(path).resolve()
        try:
            stat = path.stat()
        except OSError as exc:
            raise VideoDecodeError(f"cannot read {path}: {exc.strerror or exc}") from exc
        memo = self._memo()
        known = memo.get(str(path))
        if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            return known[2]
        try:
            digest = content_hash(path)
        except OSError as exc:  # no permission to read it, an I/O error
            raise VideoDecodeError(f"cannot read {path}: {exc.strerror or exc}",
                                   hint="check the file's permissions and the disk") from exc
        memo[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def save_hashes(self) -> None:
        if self._hash_memo is not None:
            atomic_write(self.root / "hashes.json", json.dumps(self._hash_memo).encode())

    # -- entries ---------------------------------------------------------------------------------

    def spec_dir(self, spec: ExtractionSpec) -> Path:
        return self.root / spec.key()

    def entry_path(self, spec: ExtractionSpec, video_hash: str) -> Path:
        return self.spec_dir(spec) / video_hash[:2] / f"{video_hash}.npz"

    def has(self, spec: ExtractionSpec, video_hash: str) -> bool:
        return self.entry_path(spec, video_hash).is_file()

    def save(self, spec: ExtractionSpec, video_hash: str, entry: FeatureEntry) -> Path:
        """Write one entry atomically; returns its path."""
        directory = self.spec_dir(spec)
        manifest = directory / "manifest.json"
        if not manifest.exists():
            atomic_write(manifest, json.dumps(spec.identity(), indent=2).encode())
        buffer = io.BytesIO()
        np.savez(buffer, features=np.asarray(entry.features, dtype=np.float16),
                 indices=np.asarray(entry.indices, dtype=np.int64),
                 times=np.asarray(entry.times, dtype=np.float64))
        path = self.entry_path(spec, video_hash)
        atomic_write(path, buffer.getvalue())
        return path

    def load(self, spec: ExtractionSpec, video_hash: str) -> FeatureEntry:
        """Read one entry; raises ``FeatureCacheError`` when it is missing or unreadable."""
        path = self.entry_path(spec, video_hash)
        try:
            with np.load(path, allow_pickle=False) as data:
                return FeatureEntry(data["features"], data["indices"], data["times"])
        except FileNotFoundError as exc:
            raise FeatureCacheError(f"no cached features for video {video_hash} at {path}",
                                    hint="run `avc extract` first") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise FeatureCacheError(f"cached features at {path} are unreadable: {exc}",
                                    hint="delete the file and extract again") from exc

    def frame_count(self, spec: ExtractionSpec, video_hash: str) -> int:
        """The number of frames in one entry, read from the header of its feature array only
        (a few hundred bytes, not the maps). Raises ``FeatureCacheError`` like :meth:`load`."""
        path = self.entry_path(spec, video_hash)
        try:
            # np.savez stores each array as an uncompressed .npy member; its header holds the shape.
            with zipfile.ZipFile(path) as archive, archive.open("features.npy") as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, _ = np.lib.format.read_array_header_2_0(member)
        except FileNotFoundError as exc:
            raise FeatureCacheError(f"no cached features for video {video_hash} at {path}",
                                    hint="run `avc extract` first") from exc
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise FeatureCacheError(f"cached features at {path} are unreadable: {exc}",
                                    hint="delete the file and extract again") from exc
        return int(shape[0])

    @contextmanager
    def lock(self, spec: ExtractionSpec) -> Iterator[None]:
        """Hold an exclusive lock on ``spec``'s folder while the block runs, on every platform
        (another process extracting the same settings waits for it)."""
        directory = self.spec_dir(spec)
        directory.mkdir(parents=True, exist_ok=True)
        with FileLock(directory / ".lock"):
            yield


# --- extraction --------------------------------------------------------------------------------


@dataclass
class ExtractionReport:
    """What :func:`extract_features` did. ``hashes`` maps each readable video to its cache key."""

    spec: ExtractionSpec
    hashes: dict[Path, str] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)
    extracted: int = 0
    cached: int = 0
    frames: int = 0
    seconds: float = 0.0
    cancelled: bool = False


class _DecodedVideos(Dataset):
    """Decodes one video per item in a worker process; a failure comes back as data, not a crash."""

    def __init__(self, paths: Sequence[Path], sampling: Sampling, size: int, resize: str,
                 decoder: str = "auto") -> None:
        self.paths = list(paths)
        self.sampling = sampling
        self.size = size
        self.resize = resize
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        path = self.paths[index]
        try:
            clip = sample_frames(path, self.sampling, size=self.size, resize=self.resize,
                                 backend=self.decoder)
        except VideoDecodeError as exc:
            return index, None, None, None, str(exc)
        return (index, torch.from_numpy(np.ascontiguousarray(clip.frames)),
                clip.indices, clip.times, None)


def _worker_context() -> multiprocessing.context.BaseContext:
    """How decoding workers start: from a fork server, never by forking this process.

    This process may already run decoder and OpenMP threads (a previous extraction, a prediction);
    a plain fork copies their locks mid-use and the child can abort. The fork server is a clean
    process that imports the engine once, so workers still start fast.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["core.features"])
        return context
    return multiprocessing.get_context("spawn")


def _decoder_started(run_pid: int, worker_id: int) -> None:
    """In each decoding worker: end with the run that started it, even when the run is killed
    (the worker's parent is the fork server, which would keep it alive)."""
    exit_with(run_pid)


def available_cpus() -> int:
    """The CPUs this job may use: ``$AVC_CPUS`` (avc's runner sets it for a job that shares its
    host with others), else the CPUs this process may run on."""
    try:
        return max(1, int(os.environ["AVC_CPUS"]))
    except (KeyError, ValueError):
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(device: torch.device | str = "cpu") -> int:
    """Decoding worker processes for an extraction on ``device``: on a GPU every CPU of the job
    but the one that feeds the GPU (decoding is what limits it there); on the CPU half the
    job's CPUs, at most 4 (the CNN needs the others), and none below 4 CPUs: there a worker
    only takes cores from the CNN, and decoding in the process was faster
    (``benchmarks/bench_extract.py``)."""
    cpus = available_cpus()
    if torch.device(device).type == "cuda":
        return max(1, cpus - 1)
    return min(4, cpus // 2) if cpus >= 4 else 0


def find_unreadable(videos: Sequence[Path], specs: Sequence[ExtractionSpec], cache: FeatureCache,
                    *, threads: int = 4) -> dict[Path, str]:
    """The videos that cannot be opened or whose first frame cannot be decoded, each with the
    reason; the check a run makes before it is registered.

    Only videos that some spec has not cached yet are checked: a cached one decoded before. This
    reads headers and one frame (see :func:`core.video.check_opens`), so a file damaged further
    in is found by the extraction itself.
    """
    paths, failed = [Path(v) for v in videos], {}
    todo = []
    for path in paths:
        try:
            digest = cache.video_hash(path)
        except VideoDecodeError as error:
            failed[path] = error.message
            continue
        if not all(cache.has(spec, digest) for spec in specs):
            todo.append(path)
    cache.save_hashes()

    def check(path: Path) -> str | None:
        try:
            check_opens(path)
        except VideoDecodeError as error:
            return error.message
        return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        for path, reason in zip(todo, pool.map(check, todo)):
            if reason is not None:
                failed[path] = reason
    return failed


def extract_features(videos: Sequence[Path], spec: ExtractionSpec, cache: FeatureCache, *,
                     device: str = "auto", batch_frames: int = 64, num_workers: int | None = None,
                     backbone: Backbone | None = None, callbacks: Sequence[EventCallback] = (),
                     should_stop: Callable[[], bool] | None = None) -> ExtractionReport:
    """Make sure every video in ``videos`` has cached features for ``spec``.

    Returns a report with each readable video's hash and each unreadable video's error (the caller
    decides whether a failure is fatal; nothing is dropped silently). Raises ``WeightsUnavailable``
    when the backbone's weights are missing and ``VideoDecodeError`` only for a missing file.
    """
    start = time.perf_counter()
    report = ExtractionReport(spec)
    paths = [Path(v) for v in videos]
    for path in paths:
        report.hashes[path] = cache.video_hash(path)
    cache.save_hashes()

    with cache.lock(spec):
        todo: list[Path] = []
        seen: set[str] = set()
        copies: list[Path] = []  # byte-identical to a video decoded in this pass
        for path in paths:
            digest = report.hashes[path]
            if cache.has(spec, digest):
                report.cached += 1
            elif digest in seen:
                report.cached += 1
                copies.append(path)
            else:
                seen.add(digest)
                todo.append(path)
        emit(callbacks, ExtractionStarted(spec.backbone, len(paths), report.cached))
        log.info("extracting %d of %d videos with %s at %d px (%d cached)", len(todo),
                 len(paths), spec.backbone, spec.input_size, report.cached)
        done = report.cached
        if todo:
            dev = resolve_device(device)
            if backbone is None:
                backbone = build_backbone(spec.backbone, weights=spec.weights,
                                          input_size=spec.input_size, init_seed=spec.init_seed)
            backbone = place_backbone(backbone, dev)
            if dev.type == "cpu":
                keep_freed_memory()  # each batch's activations: hundreds of MB, every batch
            if spec.compile:
                backbone = compile_backbone(backbone, dev)
            workers = default_workers(dev) if num_workers is None else num_workers
            loader = DataLoader(
                _DecodedVideos(todo, spec.sampling, spec.input_size, spec.resize, spec.decoder),
                batch_size=None,
                shuffle=False, num_workers=min(workers, len(todo)),
                prefetch_factor=4 if workers > 0 else None,
                multiprocessing_context=_worker_context() if workers > 0 else None,
                worker_init_fn=functools.partial(_decoder_started, os.getpid()),
                pin_memory=dev.type == "cuda", persistent_workers=False,
            )
            packer = _FramePacker(backbone, dev, batch_frames, spec.precision)
            writer = _EntryWriter(cache, spec)

            def finished(batch) -> None:
                nonlocal done
                for (fpath, findices, ftimes), maps in batch:
                    writer.submit(report.hashes[fpath], maps, findices, ftimes)
                    report.extracted += 1
                    report.frames += maps.shape[0]
                    done += 1
                    emit(callbacks, VideoExtracted(done, len(paths), str(fpath), maps.shape[0],
                                                   False))

            try:
                for index, frames, indices, times, error in loader:
                    path = todo[index]
                    if error is not None:
                        report.failed[path] = error
                        log.warning("unreadable: %s", error)
                        done += 1
                        emit(callbacks, VideoExtracted(done, len(paths), str(path), 0, False,
                                                       error))
                    else:
                        finished(packer.add((path, indices, times), frames))
                    if should_stop is not None and should_stop():
                        report.cancelled = True
                        break
                if not report.cancelled:
                    finished(packer.flush())
            except BaseException:
                writer.close(quiet=True)  # the error that stopped the loop is the one to raise
                raise
            writer.close()  # every entry handed over is on disk, or its error is raised
    # A copy of an unreadable video is as unreadable, not cached.
    failed_digests = {report.hashes[p]: error for p, error in report.failed.items()}
    for path in copies:
        if report.hashes[path] in failed_digests:
            report.failed[path] = failed_digests[report.hashes[path]]
            report.cached -= 1
    for path in report.failed:
        report.hashes.pop(path, None)
    report.seconds = time.perf_counter() - start
    log.info("%s: %d extracted, %d cached, %d unreadable in %.1f s", spec.backbone,
             report.extracted, report.cached, len(report.failed), report.seconds)
    emit(callbacks, ExtractionFinished(spec.backbone, len(paths), report.extracted, report.cached,
                                       len(report.failed), report.frames, report.seconds))
    return report


@dataclass
class _Queued:
    """A video waiting in the packer: its frames, how many went into a forward pass, their maps."""

    key: object
    frames: torch.Tensor
    taken: int = 0
    maps: list[torch.Tensor] = field(default_factory=list)


class _FramePacker:
    """Packs the frames of consecutive videos into forward batches of exactly ``batch_frames``
    frames (a video may span two batches), so short 1-fps clips still make full batches and the
    CNN sees one batch shape (a new shape costs oneDNN and cuDNN a new plan). :meth:`add` and
    :meth:`flush` return the (video key, its conv maps) of the videos completed, in order, the
    maps float16 where the forward ran (the entry writer copies them back)."""

    def __init__(self, backbone: Backbone, device: torch.device, batch_frames: int,
                 precision: str = "fp32") -> None:
        self.backbone = backbone
        self.device = device
        self.precision = precision
        self.batch_frames = max(1, batch_frames)
        self.queue: collections.deque[_Queued] = collections.deque()
        self.pending_frames = 0

    def add(self, key: object, frames: torch.Tensor) -> list[tuple[object, torch.Tensor]]:
        self.queue.append(_Queued(key, frames))
        self.pending_frames += frames.shape[0]
        done = []
        while self.pending_frames >= self.batch_frames:
            done += self._forward(self.batch_frames)
        return done

    def flush(self) -> list[tuple[object, torch.Tensor]]:
        """Run what is left (a last, smaller batch)."""
        return self._forward(self.pending_frames) if self.pending_frames else []

    def _forward(self, count: int) -> list[tuple[object, torch.Tensor]]:
        parts: list[tuple[_Queued, int]] = []
        chunks, need = [], count
        for item in self.queue:
            if need == 0:
                break
            k = min(item.frames.shape[0] - item.taken, need)
            if k:
                chunks.append(item.frames[item.taken:item.taken + k])
                parts.append((item, k))
                item.taken += k
                need -= k
        maps = extract_maps(self.backbone, torch.cat(chunks), self.device, batch_frames=count,
                            precision=self.precision, to_cpu=False)
        offset = 0
        for item, k in parts:
            item.maps.append(maps[offset:offset + k])
            offset += k
        self.pending_frames -= count
        done = []
        while self.queue and self.queue[0].taken == self.queue[0].frames.shape[0]:
            item = self.queue.popleft()
            done.append((item.key, item.maps[0] if len(item.maps) == 1 else torch.cat(item.maps)))
        return done


class _EntryWriter:
    """Writes cache entries on a thread of its own, with the copy back from the GPU, so that the
    next forward pass does not wait for them; at most ``depth`` entries are in flight (their maps
    hold device memory). A failed write (a full disk) is raised by the :meth:`submit` that finds
    the queue full or by :meth:`close`: the extraction then fails, and entries already written
    stay valid."""

    def __init__(self, cache: FeatureCache, spec: ExtractionSpec, depth: int = 64) -> None:
        self.cache, self.spec, self.depth = cache, spec, depth
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="avc-cache")
        self.pending: collections.deque = collections.deque()

    def submit(self, video_hash: str, maps: torch.Tensor, indices, times) -> None:
        while len(self.pending) >= self.depth:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self._write, video_hash, maps, indices, times))

    def _write(self, video_hash: str, maps: torch.Tensor, indices, times) -> None:
        entry = FeatureEntry(maps.cpu().numpy(), indices, times)
        self.cache.save(self.spec, video_hash, entry)

    def close(self, *, quiet: bool = False) -> None:
        """Wait for every entry in flight; raise the first failed write unless ``quiet``."""
        try:
            while self.pending:
                future = self.pending.popleft()
                if quiet:
                    future.exception()
                else:
                    future.result()
        finally:
            self.pool.shutdown(wait=True)
