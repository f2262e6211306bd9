"""Decoding frames from video files: the frames a :class:`~core.sampling.Sampling` picks, or any indices.

Two decoders are supported, in preference order: PyAV (keyframe seeks and skipped non-reference
frames, or sequential decoding) and decord (random access with ``get_batch``). ``backend="auto"``
tries PyAV first and falls back to decord when PyAV is not installed or fails; if every backend
fails, one
:class:`~core.errors.VideoDecodeError` naming the file and what failed is raised. No decoder exception
ever leaves this module.

Rules that hold for both backends:

* Frame indices are derived from the stream's *average* frame rate and the frame count, never from
  per-frame timestamps: several real AVIs (HMDB-51 DivX clips, XviD with B-frames) carry garbage PTS.
  Frame ``i`` is the ``i``-th frame in presentation order and its time is ``i / fps``.
* decord seeks by timestamp, so it picks wrong frames in files whose timestamps are unusable. It
  declines those unless it is the last backend to try, and then (a forced ``"decord"``, or
  ``"auto"`` after PyAV failed) reads from frame 0 in consecutive batches without seeking (exact,
  but converts every frame up to the last one).
* The frame count is the number of video packets (decord's ``len()``; PyAV demuxes without decoding
  to count them), so both backends index the same frames, even in Matroska files without a count
  and in truncated files whose header still announces the original length.
* End of stream versus corruption: a file may hold a frame or two more packets than decoded frames
  (HMDB DivX AVIs with packed B-frames: 73 packets, 72 frames). When the stream ends *cleanly* (no
  decoder error) at most ``END_OF_STREAM_SLACK`` frames before a requested index, that index gets the
  last decoded frame (decord itself repeats the last frame there). A decoder error before the last
  requested frame, or a clean end further than that before a requested index, raises
  ``VideoDecodeError``; errors after the last requested frame are never reached, since decoding stops
  there.
* Every backend decodes at the native size; ``size`` is then reached in one place for all of them
  (:func:`resize_frames`): ``"area"``, ABDN's ``cv2.resize(..., INTER_AREA)``, or ``"bilinear"``
  (``INTER_LINEAR``). So a video's pixels do not depend on which backend read it.
* PyAV decodes only what the wanted frames need where timestamps can be trusted (MP4/MOV and
  Matroska/WebM with one timestamp per packet at a constant frame rate): it seeks to the keyframe
  before a wanted frame when that is ahead, and skips the frames nothing refers to on every other
  packet. The frames are bit for bit those of sequential decoding, which AVIs and every file
  where that fails keep using.
* Frames come back as displayed: a display-matrix rotation (phone videos) is applied, so a clip coded
  568x320 with a -90 degree matrix comes back 568 high and 320 wide from either backend.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from core.choices import RESIZES
from core.errors import ConfigError, VideoDecodeError
from core.numeric import is_int
from core.sampling import Sampling, sampled_indices

BACKENDS: tuple[str, ...] = ("pyav", "decord", "torchcodec")
"""Every backend this module knows. ``auto`` tries :data:`AUTO_BACKENDS`; torchcodec (an extra:
it loads the system's FFmpeg libraries) is exact but costs about twice PyAV's CPU, so it is used
only when asked for, and then only on files whose timestamps PyAV trusts (:func:`_seekable`),
PyAV reading the others."""

AUTO_BACKENDS: tuple[str, ...] = ("pyav", "decord")
"""What ``auto`` tries, in order: PyAV's exact seeking decodes with about two thirds of decord's
CPU time on the shared clips (``benchmarks/bench_decode.py``); decord, last, also reads files
without usable timestamps (sequentially)."""

TORCHCODEC_HINT = ("pip install -e '.[torchcodec]'; torchcodec loads the system's FFmpeg "
                   "libraries (FFmpeg 4 to 7: e.g. apt-get install ffmpeg, or conda install "
                   "ffmpeg)")

END_OF_STREAM_SLACK = 2
"""How many frames before a requested index a clean end of stream may come and still be clamped."""

# One decoding thread per reader: the extraction pipeline already runs one decoder per worker process,
# and extra threads there only oversubscribe the cores.
_DECODER_THREADS = 1


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class VideoInfo:
    """What a backend reports about a video's video stream."""

    path: Path
    num_frames: int  # frames the sampler may index: video packets in the file (= decord's len())
    fps: float  # average frame rate
    duration: float  # seconds = num_frames / fps
    width: int  # as displayed (after rotation)
    height: int
    backend: str  # "decord" or "pyav"
    decoded: int = 0  # frames the decoder produced to read them (PyAV; 0 where unknown)


@dataclass
class Clip:
    """Frames read from one video, with where they came from."""

    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    indices: np.ndarray  # (N,) int64 frame indices
    times: np.ndarray  # (N,) float64 seconds = index / fps
    info: VideoInfo


# --------------------------------------------------------------------------------------------------
# Backends

# Given (num_frames, fps) of the opened video, returns the indices to read; may raise IndexError.
_Plan = Callable[[int, float], np.ndarray]


class _BackendFailure(Exception):
    """One backend could not do the job. ``detail`` is its reason, ``summary`` a plain headline."""

    def __init__(self, detail: str, summary: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.summary = summary


@dataclass
class _Decoded:
    frames: np.ndarray
    indices: np.ndarray
    info: VideoInfo


def _import_decord() -> ModuleType | None:
    """Return the decord module, or None when it cannot be imported."""
    try:
        import decord
    except Exception:  # a broken binary wheel raises OSError and friends, not only ImportError
        return None
    _quiet_decord(decord)
    return decord


@functools.cache
def _quiet_decord(decord: ModuleType) -> None:
    """Silence the FFmpeg messages decord lets through to stderr (``moov atom not found``,
    ``Invalid NAL unit size``): what matters of a failure goes into avc's own error."""
    decord.logging.set_level(decord.logging.QUIET)


def _import_av() -> ModuleType | None:
    """Return the PyAV module, or None when it cannot be imported."""
    try:
        import av
    except Exception:
        return None
    return av


def _import_torchcodec() -> ModuleType | None:
    """Return torchcodec's decoders module, or None when it cannot be imported (not installed,
    or the system's FFmpeg libraries are missing: see :func:`torchcodec_problem`)."""
    return None if torchcodec_problem() else __import__("torchcodec.decoders").decoders


@functools.cache
def torchcodec_problem() -> str:
    """Why torchcodec cannot be used here ("" when it can)."""
    try:
        import torchcodec.decoders  # noqa: F401
    except ImportError as exc:
        if getattr(exc, "name", None) == "torchcodec":
            return "torchcodec is not installed"
        return f"torchcodec cannot load FFmpeg's libraries ({_first_line(exc)})"
    except Exception as exc:  # a missing libavutil surfaces as RuntimeError or OSError
        return f"torchcodec cannot load FFmpeg's libraries ({_first_line(exc)})"
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else type(exc).__name__)


def available_backends() -> list[str]:
    """Return the backends ``auto`` tries that can be imported here, a subset of
    :data:`AUTO_BACKENDS` in that order (torchcodec: :func:`torchcodec_problem`)."""
    importers = {"decord": _import_decord, "pyav": _import_av}
    return [name for name in AUTO_BACKENDS if importers[name]() is not None]


def _short_reason(exc: BaseException, path: Path) -> str:
    """Return a one-line reason from a decoder exception, without log prefixes or stack traces."""
    text = str(exc)
    text = re.sub(r"\[\d{2}:\d{2}:\d{2}\] \S+?:\d+: ", "", text)  # decord's "[time] file.cc:line: "
    text = re.sub(r"Check failed: .*?\(-?\d+ vs\. -?\d+\)\s*", "", text)  # decord's failed C++ check
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)  # PyAV's errno prefix
    text = text.replace(f": '{path}'", "").replace(str(path), "the file")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > 140:
        text = text[:137] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _check_stream(num_frames: int, fps: float) -> None:
    if not math.isfinite(fps) or fps <= 0:
        raise _BackendFailure(f"no usable frame rate ({fps})", summary="it has no usable frame rate")
    if num_frames < 1:
        raise _BackendFailure("no frames", summary="it has no video frames")


def _decord_read(path: Path, plan: _Plan, *, last_resort: bool) -> _Decoded:
    """Return the frames ``plan`` asks for, read with decord; raises _BackendFailure.

    With ``last_resort`` False a file decord cannot seek in is declined, so the next backend gets it.
    """
    decord = _import_decord()
    if decord is None:
        raise _BackendFailure("decord is not installed")
    # decord logs a failed open to stderr from C++, beside its exception; PyAV opens quietly and
    # only parses headers, so a file that is no video is turned away before decord sees it.
    _pyav_opens(path)
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=_DECODER_THREADS)
        num_frames, fps = len(reader), float(reader.get_avg_fps())
        can_seek = _decord_timestamps_usable(reader, num_frames)
    except Exception as exc:
        raise _BackendFailure(_short_reason(exc, path), summary="it cannot be opened as a video") from exc
    _check_stream(num_frames, fps)
    if not can_seek and not last_resort:
        # Sequential decoding in decord converts every frame to RGB; PyAV does it ~3x faster.
        raise _BackendFailure("frame timestamps are unusable, so decord cannot seek in it")
    indices = plan(num_frames, fps)
    wanted, where = np.unique(indices, return_inverse=True)
    try:
        batch = _decord_batch(reader, wanted) if can_seek else _decord_sequential(reader, wanted)
    except Exception as exc:
        raise _BackendFailure(_short_reason(exc, path)) from exc
    finally:
        del reader  # decord keeps the whole packet index in memory; free it early
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[0] != len(wanted) or batch.shape[3] != 3:
        raise _BackendFailure(f"unexpected frame batch {batch.dtype} {batch.shape}")
    frames = batch if len(wanted) == len(indices) else batch[where]
    height, width = batch.shape[1:3]
    info = VideoInfo(path, num_frames, fps, num_frames / fps, int(width), int(height), "decord")
    return _Decoded(frames, indices, info)


def _pyav_opens(path: Path) -> None:
    """Raise _BackendFailure when PyAV (if installed) cannot open ``path`` as a container.

    Both decoders open files with FFmpeg, so decord is not asked to open a file PyAV cannot:
    decord would print its own failure to stderr (from C++, past any logging level)."""
    av = _import_av()
    if av is None:
        return
    try:
        av.open(str(path)).close()
    except Exception as exc:
        raise _BackendFailure("not tried: the file does not open as a container",
                              summary="it cannot be opened as a video") from exc


def _decord_timestamps_usable(reader: Any, num_frames: int) -> bool:
    """Return whether decord's per-frame timestamps are finite, >= 0 and increasing.

    decord seeks by timestamp. In AVIs without usable PTS (HMDB-51 DivX clips report about -3e17 for
    every frame) a seek lands on the wrong frame: a fresh reader's ``get_batch([30])`` on
    TrumanShow_wave_f_nm_np1_fr_med_26.avi returns a frame from another shot. Reading from frame 0
    without seeking is still exact.
    """
    if num_frames < 1:
        return False
    starts = np.asarray(reader.get_frame_timestamp(np.arange(num_frames)))[:, 0]
    return bool(np.all(np.isfinite(starts)) and starts[0] >= 0 and np.all(np.diff(starts) > 0))


def _decord_batch(reader: Any, wanted: np.ndarray) -> np.ndarray:
    return reader.get_batch(wanted.tolist()).asnumpy()


def _decord_sequential(reader: Any, wanted: np.ndarray, chunk: int = 32) -> np.ndarray:
    """Read frames 0..wanted[-1] in consecutive chunks (no seeking) and keep the wanted ones."""
    kept = []
    for start in range(0, int(wanted[-1]) + 1, chunk):
        stop = min(start + chunk, int(wanted[-1]) + 1)
        here = wanted[(wanted >= start) & (wanted < stop)]
        if here.size == 0:
            # Still decoded: the next chunk must follow on without a seek.
            reader.get_batch(list(range(start, stop)))
            continue
        batch = reader.get_batch(list(range(start, stop))).asnumpy()
        kept.append(batch[here - start])
    return np.concatenate(kept)


def _pyav_fps(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


@dataclass(frozen=True)
class _Packets:
    """The video packets of a file in decoding order, read by demuxing without decoding."""

    pts: list[int | None]
    keyframe: list[bool]
    discard: list[bool]  # an edit list cuts the frame out: decoded, never shown

    def __len__(self) -> int:
        return len(self.pts)


def _pyav_packets(av: ModuleType, path: Path) -> _Packets:
    """Every video packet's timestamp and keyframe flag, in decoding order.

    Their number is what decord's ``len()`` counts, so both backends index the same frames.
    Header counts are not used: Matroska has none, and a truncated AVI still announces its
    original length.
    """
    pts, keyframe, discard = [], [], []
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        # The demuxer ends with an empty flush packet, which is not a frame.
        for packet in container.demux(video):
            if packet.size > 0:
                pts.append(packet.pts)
                keyframe.append(bool(packet.is_keyframe))
                discard.append(bool(getattr(packet, "is_discard", False)))
    return _Packets(pts, keyframe, discard)


class _FrameConverter:
    """Turns PyAV frames into RGB arrays at their displayed size, rotated like decord does."""

    def __init__(self, first: Any) -> None:
        # PyAV gives the display matrix angle counter-clockwise; np.rot90 turns counter-clockwise too.
        self.turns = int(round(getattr(first, "rotation", 0) / 90)) % 4
        coded_w, coded_h = first.width, first.height
        self.display = (coded_h, coded_w) if self.turns % 2 == 0 else (coded_w, coded_h)
        self.shape = (*self.display, 3)

    def __call__(self, frame: Any) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")
        return np.rot90(image, self.turns) if self.turns else image


def _pyav_read(path: Path, plan: _Plan, *, last_resort: bool) -> _Decoded:
    """Return the frames ``plan`` asks for, read with PyAV; raises _BackendFailure.

    Where the file's timestamps can be trusted (see :func:`_seekable`) only the frames the
    wanted ones need are decoded (:func:`_pyav_seek_decode`); elsewhere, or if that fails in
    any way, decoding is sequential from the first frame (:func:`_pyav_decode`).
    ``last_resort`` is accepted for symmetry with decord: PyAV never needs to decline.
    """
    av = _import_av()
    if av is None:
        raise _BackendFailure("PyAV is not installed")
    try:
        container = av.open(str(path))
    except Exception as exc:
        raise _BackendFailure(_short_reason(exc, path), summary="it cannot be opened as a video") from exc
    with container:
        if not container.streams.video:
            raise _BackendFailure("no video stream", summary="it has no video stream")
        stream = container.streams.video[0]
        try:
            fps = _pyav_fps(stream)
            packets = _pyav_packets(av, path)
            stream.codec_context.thread_count = _DECODER_THREADS
        except Exception as exc:
            raise _BackendFailure(_short_reason(exc, path), summary="its header cannot be read") from exc
        num_frames = len(packets)
        _check_stream(num_frames, fps)
        indices = plan(num_frames, fps)
        wanted, where = np.unique(indices, return_inverse=True)
        if not _seekable(container, stream, packets, fps):
            result = _pyav_decode(container, stream, wanted, num_frames, path)
        else:
            try:
                result = _pyav_seek_decode(container, stream, packets, wanted)
            except Exception:  # noqa: BLE001 - decoded from the start below: exact, and its error is the one to report
                result = None
    if result is None:  # from the start, in a fresh container (no seek, no skipping left over)
        try:
            container = av.open(str(path))
        except Exception as exc:
            raise _BackendFailure(_short_reason(exc, path), summary="it cannot be opened as a video") from exc
        with container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = _DECODER_THREADS
            result = _pyav_decode(container, stream, wanted, num_frames, path)
    frames, display, decoded = result
    if len(wanted) != len(indices):
        frames = frames[where]
    height, width = display
    info = VideoInfo(path, num_frames, fps, num_frames / fps, int(width), int(height), "pyav",
                     decoded)
    return _Decoded(frames, indices, info)


def _torchcodec_read(path: Path, plan: _Plan, *, last_resort: bool) -> _Decoded:
    """Return the frames ``plan`` asks for, read with torchcodec (exact seek mode); raises
    _BackendFailure. Used only where it is exact: files whose timestamps PyAV trusts (frame
    ``i`` is the ``i``-th timestamp, see :func:`_seekable`); every frame it returns is checked to
    be the one asked for, at PyAV's size; rotated videos are left to PyAV."""
    decoders, av = _import_torchcodec(), _import_av()
    if decoders is None:
        raise _BackendFailure(torchcodec_problem())
    if av is None:
        raise _BackendFailure("torchcodec reads only files PyAV vouches for, and PyAV is missing")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _BackendFailure("no video stream", summary="it has no video stream")
            stream = container.streams.video[0]
            fps = _pyav_fps(stream)
            packets = _pyav_packets(av, path)
            seekable = _seekable(container, stream, packets, fps)
            time_base = float(stream.time_base) if stream.time_base else 0.0
            first = next(container.decode(stream), None)
    except _BackendFailure:
        raise
    except Exception as exc:
        raise _BackendFailure(_short_reason(exc, path), summary="it cannot be opened as a video") from exc
    num_frames = len(packets)
    _check_stream(num_frames, fps)
    if not seekable:
        raise _BackendFailure("its timestamps do not name its frames, so torchcodec would not be "
                              "exact")
    if first is None or int(round(getattr(first, "rotation", 0) or 0)) % 360:
        raise _BackendFailure("it is rotated (or its first frame does not decode): PyAV reads it")
    display = (int(first.height), int(first.width))
    indices = plan(num_frames, fps)
    wanted, where = np.unique(indices, return_inverse=True)
    try:
        decoder = decoders.VideoDecoder(str(path), seek_mode="exact", dimension_order="NHWC",
                                        num_ffmpeg_threads=_DECODER_THREADS)
        batch = decoder.get_frames_at(indices=wanted.tolist())
    except Exception as exc:
        raise _BackendFailure(_short_reason(exc, path)) from exc
    expected = np.sort(np.asarray(packets.pts, dtype=np.float64))[wanted] * time_base
    frames = batch.data.numpy()
    if (not np.allclose(batch.pts_seconds.numpy(), expected, atol=0.5 * time_base + 1e-9)
            or frames.shape[1:3] != display):
        raise _BackendFailure("its frames are not the ones PyAV indexes")
    if len(wanted) != len(indices):
        frames = frames[where]
    height, width = display
    info = VideoInfo(path, num_frames, fps, num_frames / fps, int(width), int(height),
                     "torchcodec")
    return _Decoded(frames, indices, info)


# Containers whose timestamps are presentation times by design (AVI's are often not: HMDB-51's
# DivX clips pack two frames into one packet).
SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm")


def _seekable(container: Any, stream: Any, packets: _Packets, fps: float) -> bool:
    """Whether ``packets`` can be addressed by timestamp: a container that keeps presentation
    timestamps, every packet with one, all distinct, none cut by an edit list, and in
    presentation order on the grid of a constant frame rate (frame ``i`` is then the ``i``-th
    timestamp)."""
    names = set(container.format.name.split(","))
    if not names & set(SEEKABLE_FORMATS) or not packets.keyframe or not packets.keyframe[0]:
        return False
    if any(pts is None for pts in packets.pts) or len(set(packets.pts)) != len(packets):
        return False
    if any(packets.discard):  # an edit list (a stream-copied cut): frames i and pts part ways
        return False
    if len(packets) == 1:
        return True
    if stream.time_base is None:
        return False
    # Frame i shows at i frame durations from the first, give or take the rounding of the time
    # base (Matroska's milliseconds: 33 or 34 at 30 fps).
    pts = np.sort(np.asarray(packets.pts, dtype=np.int64))
    duration = 1.0 / (fps * float(stream.time_base))
    return bool(np.all(np.abs(pts - pts[0] - np.arange(len(pts)) * duration) <= 1.0))


def _pyav_seek_decode(container: Any, stream: Any, packets: _Packets, wanted: np.ndarray
                      ) -> tuple[np.ndarray, tuple[int, int], int] | None:
    """Decode only what the ``wanted`` (sorted, unique) frames need: from the keyframe before
    each one (seeking when that is ahead of where decoding stands), telling the decoder to skip
    the frames no other frame refers to on every packet that is not a wanted frame. The frames
    are those sequential decoding gives, bit for bit.

    Returns (frames, displayed (height, width), frames decoded), or None when a wanted frame did
    not come out (the caller then decodes sequentially, which knows the end-of-stream rules).
    """
    order = sorted(packets.pts)  # presentation order: frame i has the i-th timestamp
    targets = [order[i] for i in wanted]
    position = {pts: i for i, pts in enumerate(packets.pts)}  # decoding order
    keyframes = [i for i, key in enumerate(packets.keyframe) if key]

    def start_of(pts: int) -> int:
        """The last keyframe before the frame ``pts`` in decoding order that shows no later."""
        at = position[pts]
        return max(k for k in keyframes if k <= at and packets.pts[k] <= pts)

    codec = stream.codec_context
    got: dict[int, np.ndarray] = {}
    convert: _FrameConverter | None = None
    decoded = 0
    following = -1  # the decoding-order position of the next packet the demuxer gives
    pending = set(targets)
    for target in targets:
        if target in got:
            continue
        start = start_of(target)
        if following < 0 or start > following:  # else decoding on reaches it as well
            container.seek(packets.pts[start], stream=stream, backward=True, any_frame=False)
            codec.flush_buffers()
            following = start
        for packet in container.demux(stream):
            flush = packet.size == 0
            if not flush:
                codec.skip_frame = "DEFAULT" if packet.pts in pending else "NONREF"
                following = position.get(packet.pts, following) + 1
            else:
                codec.skip_frame = "DEFAULT"
            for frame in codec.decode(None if flush else packet):
                decoded += 1
                if frame.pts in pending:
                    if convert is None:
                        convert = _FrameConverter(frame)
                    got[frame.pts] = convert(frame)
                    pending.discard(frame.pts)
            if target in got or flush:
                break
        if target not in got:
            return None
    if convert is None:
        return None
    return np.stack([got[t] for t in targets]), convert.display, decoded


def _pyav_decode(
    container: Any,
    stream: Any,
    wanted: np.ndarray,
    num_frames: int,
    path: Path,
) -> tuple[np.ndarray, tuple[int, int], int]:
    """Decode from the start, converting only the ``wanted`` (sorted, unique) frames.

    Returns the frames, the native displayed (height, width) and the number of frames decoded.
    Inter frames need their references
    decoded anyway, so decoding is sequential; only RGB conversion is skipped for unwanted frames, and
    decoding stops after the last wanted frame. Raises _BackendFailure (see END_OF_STREAM_SLACK).
    """
    convert: _FrameConverter | None = None
    out: np.ndarray | None = None
    last = None
    decoded = 0
    pos = 0
    try:
        for frame in container.decode(stream):
            if convert is None:
                convert = _FrameConverter(frame)
                out = np.empty((len(wanted), *convert.shape), dtype=np.uint8)
            if wanted[pos] == decoded:
                out[pos] = convert(frame)
                pos += 1
            last = frame
            decoded += 1
            if pos == len(wanted):
                break
    except Exception as exc:
        raise _BackendFailure(
            _short_reason(exc, path), summary=f"decoding fails at frame {decoded} of {num_frames}"
        ) from exc
    if convert is None or out is None or last is None:
        raise _BackendFailure("no frame decodes", summary="no frame decodes")
    if pos < len(wanted):
        if wanted[-1] - (decoded - 1) > END_OF_STREAM_SLACK:
            raise _BackendFailure(
                f"the stream ends after {decoded} frames but frame {wanted[-1]} was asked for",
                summary=f"only {decoded} of its {num_frames} frames decode",
            )
        out[pos:] = convert(last)
    return out, convert.display, decoded


_READERS: dict[str, Callable[..., _Decoded]] = {
    "torchcodec": _torchcodec_read,
    "decord": _decord_read,
    "pyav": _pyav_read,
}


def _first_frame_plan(num_frames: int, fps: float) -> np.ndarray:
    return np.zeros(1, dtype=np.int64)


def _backend_order(backend: str) -> list[str]:
    """Return the backends to try for ``backend``; raises ConfigError if none can be used."""
    if backend == "auto":
        order = available_backends()
        if not order:
            raise ConfigError(
                "no video backend is installed", hint="install decord (x86-64 Linux) or PyAV (av)"
            )
        return order
    if backend not in BACKENDS:
        raise ConfigError(
            f"unknown video backend {backend!r}; expected auto, {', '.join(BACKENDS)}"
        )
    check_decoder(backend)
    if backend == "torchcodec" and "pyav" in available_backends():
        return ["torchcodec", "pyav"]  # torchcodec where it is exact, PyAV for the rest
    return [backend]


def check_decoder(backend: str) -> None:
    """Raise ``ConfigError`` unless ``backend`` is ``auto`` or a backend that works here."""
    if backend == "auto":
        return
    if backend not in BACKENDS:
        raise ConfigError(f"unknown video decoder {backend!r}",
                          hint=f"choose auto, {', '.join(BACKENDS)}")
    if backend == "torchcodec":
        if torchcodec_problem():
            raise ConfigError(f"the torchcodec decoder cannot be used: {torchcodec_problem()}",
                              hint=TORCHCODEC_HINT)
        return
    if backend not in available_backends():
        raise ConfigError(
            f"video backend {backend!r} is not installed", hint="use backend='auto' to fall back"
        )


def _decode(path: str | Path, backend: str, plan: _Plan) -> _Decoded:
    """Run ``plan`` on the first backend that succeeds; raises one VideoDecodeError if none does."""
    path = Path(path)
    order = _backend_order(backend)
    if not path.exists():
        raise VideoDecodeError(f"cannot decode {path}: no such file")
    if not path.is_file():
        raise VideoDecodeError(f"cannot decode {path}: not a file")
    failures: list[tuple[str, _BackendFailure]] = []
    for name in order:
        try:
            return _READERS[name](path, plan, last_resort=name == order[-1])
        except _BackendFailure as failure:
            failures.append((name, failure))
    # PyAV decodes sequentially where it must, so its headline is the more precise one.
    summaries = {name: failure.summary for name, failure in failures if failure.summary}
    headline = summaries.get("pyav") or next(iter(summaries.values()), "no backend could decode it")
    reasons = "; ".join(f"{name}: {failure.detail}" for name, failure in failures)
    raise VideoDecodeError(
        f"cannot decode {path}: {headline} ({reasons})",
        hint="re-download or re-encode the file, or leave it out of the dataset",
    )


def _normalize_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Return ``size`` as (height, width) or None; raises ConfigError on anything else."""
    if size is None:
        return None
    if is_int(size):
        pair: tuple[Any, ...] = (size, size)
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        pair = tuple(size)
    else:
        raise ConfigError(f"frame size must be an int or a (height, width) pair, got {size!r}")
    if not all(is_int(v) and v >= 1 for v in pair):
        raise ConfigError(f"frame size must hold positive integers, got {size!r}")
    return int(pair[0]), int(pair[1])


# --------------------------------------------------------------------------------------------------
# Public entry points


def check_opens(path: str | Path) -> None:
    """Raise VideoDecodeError unless ``path`` opens as a video and its first frame decodes.

    Cheaper than :func:`probe`: with PyAV only the headers and the first frame are read (no
    packet index); without PyAV it is :func:`probe`.
    """
    path = Path(path)
    av = _import_av()
    if av is None:
        probe(path)
        return
    if not path.is_file():
        reason = "not a file" if path.exists() else "no such file"
        raise VideoDecodeError(f"cannot decode {path}: {reason}")
    hint = "re-download or re-encode the file, or leave it out of the dataset"
    try:
        container = av.open(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to open is the same user error
        raise VideoDecodeError(f"cannot decode {path}: it cannot be opened as a video "
                               f"({_short_reason(exc, path)})", hint=hint) from exc
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"cannot decode {path}: it has no video stream", hint=hint)
        try:
            next(container.decode(video=0))
        except StopIteration:
            raise VideoDecodeError(f"cannot decode {path}: it has no video frames",
                                   hint=hint) from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is the same user error
            raise VideoDecodeError(f"cannot decode {path}: its first frame cannot be read "
                                   f"({_short_reason(exc, path)})", hint=hint) from exc


def probe(path: str | Path, *, backend: str = "auto") -> VideoInfo:
    """Return the :class:`VideoInfo` of ``path``, decoding only its first frame.

    The frame count comes from the packet index (decord builds it on opening, PyAV demuxes without
    decoding), the displayed size from the first frame.

    Raises VideoDecodeError when no backend can open the file or decode its first frame, and
    ConfigError for an unknown or uninstalled ``backend``.
    """
    return _decode(path, backend, _first_frame_plan).info


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray,
    *,
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    resize: str = "bilinear",
) -> np.ndarray:
    """Return the frames at ``indices`` (any order, repeats allowed) as (N, H, W, 3) uint8 RGB,
    resized to ``size`` by ``resize`` (see :func:`resize_frames`).

    ``size`` is an int for a square (size, size) frame, a (height, width) pair, or None for the
    native displayed size. An index a frame or two past the last frame that actually decodes gets that
    last frame (see ``END_OF_STREAM_SLACK``). Raises VideoDecodeError when no backend can decode the
    frames, IndexError for an index outside [0, num_frames), TypeError for non-integer indices, and
    ConfigError for a bad ``size`` or ``backend``.
    """
    wanted = np.asarray(indices)
    if wanted.size == 0:
        target = _normalize_size(size)
        if target is None:
            info = probe(path, backend=backend)
            target = (info.height, info.width)
        return np.empty((0, *target, 3), dtype=np.uint8)
    if wanted.ndim != 1 or not np.issubdtype(wanted.dtype, np.integer):
        raise TypeError(
            f"frame indices must be a 1-D sequence of integers, got {wanted.dtype} {wanted.shape}"
        )
    wanted = wanted.astype(np.int64)

    def plan(num_frames: int, fps: float) -> np.ndarray:
        bad = wanted[(wanted < 0) | (wanted >= num_frames)]
        if bad.size:
            raise IndexError(
                f"frame index {int(bad[0])} is out of range for {path} ({num_frames} frames)"
            )
        return wanted

    target = _normalize_size(size)
    frames = _decode(path, backend, plan).frames
    return frames if target is None else resize_frames(frames, target, resize)


def sample_frames(
    path: str | Path,
    sampling: Sampling,
    *,
    size: int | tuple[int, int] | None = None,
    backend: str = "auto",
    rng: np.random.Generator | None = None,
    resize: str = "bilinear",
) -> Clip:
    """Return the :class:`Clip` of the frames ``sampling`` picks from ``path``.

    The indices come from :func:`sampled_indices` with the frame count and average fps of the backend
    that decodes the file; ``rng`` only matters for mode ``"segments"``. ``size`` as in
    :func:`read_frames`, reached by ``resize`` (see the module docstring). Raises VideoDecodeError
    when no backend can decode the frames, and ConfigError for a bad ``size``, ``backend`` or
    ``resize``.
    """
    if resize not in RESIZES:
        raise ConfigError(f"unknown resize {resize!r}; choose one of: {', '.join(RESIZES)}")
    plans: dict[tuple[int, float], np.ndarray] = {}

    def plan(num_frames: int, fps: float) -> np.ndarray:
        # Memoised so that a fallback to the next backend does not draw from `rng` a second time.
        if (num_frames, fps) not in plans:
            plans[num_frames, fps] = sampled_indices(num_frames, fps, sampling, rng=rng)
        return plans[num_frames, fps]

    target = _normalize_size(size)
    decoded = _decode(path, backend, plan)
    frames = decoded.frames if target is None else resize_frames(decoded.frames, target, resize)
    indices = decoded.indices.astype(np.int64)
    return Clip(frames, indices, indices / decoded.info.fps, decoded.info)


INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR}


def resize_frames(frames: np.ndarray, size: tuple[int, int], resize: str = "area") -> np.ndarray:
    """``frames`` (N, H, W, 3) uint8 resized to ``size`` (height, width), the aspect ratio not
    kept: ``area`` as ABDN does it (``cv2.resize`` with ``INTER_AREA``), ``bilinear`` with
    ``INTER_LINEAR``. The one resize of every backend's frames, so that a video's pixels do not
    depend on which backend read it."""
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = cv2.resize(frame, (width, height), interpolation=INTERPOLATIONS[resize])
    return out
