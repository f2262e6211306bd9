"""YouTube-8M frame-level records: read, pad, write, and a small synthetic set to try NeXtVLAD on.

A frame-level file is a TFRecord of ``tf.train.SequenceExample`` s (google's starter ``readers.py``):

- context ``id`` (one bytes value) and ``labels`` (int64, indices into the vocabulary of
  :data:`NUM_CLASSES` = 3,862 classes);
- feature lists ``rgb`` and ``audio`` with one bytes value per second of video (1 fps): 1,024 uint8 for
  rgb (Inception pool_3, PCA'd and whitened), 128 uint8 for audio (VGGish, PCA'd and whitened).

The bytes are quantised: clip to [-2, 2], then ``round((x + 2) * 255 / 4)``. They are read back with
google's ``utils.Dequantize`` (max 2, min -2): ``x = q * 4/255 + (4/512 - 2)``. Note that the 4/512
offset does not undo the rounding, so a round trip moves a value by up to one step (4/255), not half.
The starter reader keeps at most :data:`MAX_FRAMES` = 300 frames and zero-pads to 300;
``num_frames = min(frames, 300)``; labels become a multi-hot vector.

YouTube-8M names its files by partition, ``train0000.tfrecord``, ``validate0000.tfrecord``, …
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.tfrecord import (
    TFRecordError,
    encode_sequence_example,
    parse_sequence_example,
    scan_records,
    write_records,
)
from core.errors import ConfigError

NUM_CLASSES = 3862
MAX_FRAMES = 300
RGB_DIM = 1024
AUDIO_DIM = 128

_SCALE = np.float32(4.0 / 255.0)
_BIAS = np.float32(4.0 / 512.0 - 2.0)
_ON_ERROR = ("raise", "skip")
DISTRACTORS = 20  # topics of the synthetic set's frames that are no class


def quantize(x: np.ndarray) -> np.ndarray:
    """Quantise features to uint8 as YouTube-8M does: clip to [-2, 2], then round((x + 2) * 255 / 4)."""
    values = np.asarray(x, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("cannot quantise NaN features")
    scaled = np.clip(values, -2.0, 2.0)
    scaled += 2.0
    scaled *= 255.0 / 4.0
    return np.rint(scaled, out=scaled).astype(np.uint8)


def dequantize(q: np.ndarray) -> np.ndarray:
    """Return the float32 features of uint8 ``q``: ``q * 4/255 + (4/512 - 2)`` (google's Dequantize)."""
    return np.asarray(q, dtype=np.uint8).astype(np.float32) * _SCALE + _BIAS


@dataclass
class Yt8mVideo:
    """One frame-level video: its id, labels, and dequantised (frames, 1024) rgb and (frames, 128) audio."""

    id: str
    labels: tuple[int, ...]
    rgb: np.ndarray
    audio: np.ndarray

    def features(self) -> np.ndarray:
        """Each second's rgb ⊕ audio, (n, 1152) float16: what the layout, training and
        prediction see. (PyTorch rounds to float16 as NumPy does, with vector instructions:
        15× faster, and this runs for every video of every streamed epoch.)"""
        import torch

        both = np.concatenate([self.rgb, self.audio], axis=1, dtype=np.float32)
        return torch.from_numpy(both).half().numpy()

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])


def _frames(steps: list[list], name: str, dim: int, video: str) -> np.ndarray:
    """Return the uint8 (frames, dim) array of a feature list with one bytes value of ``dim`` per frame."""
    for index, step in enumerate(steps):
        if len(step) != 1 or not isinstance(step[0], bytes) or len(step[0]) != dim:
            got = (f"{len(step[0])} bytes" if len(step) == 1 and isinstance(step[0], bytes)
                   else f"{len(step)} values of type {type(step[0]).__name__ if step else 'none'}")
            raise TFRecordError(
                f"video {video}: {name} frame {index} has {got}, expected one bytes value of {dim}"
            )
    return np.frombuffer(b"".join(step[0] for step in steps), dtype=np.uint8).reshape(len(steps), dim)


def parse_video(record: bytes, *, max_frames: int = MAX_FRAMES, num_classes: int = NUM_CLASSES) -> Yt8mVideo:
    """Decode one frame-level record, keeping its first ``max_frames`` frames.

    Raises:
        TFRecordError: the record is not a SequenceExample, has no ``id``, a label outside
            ``[0, num_classes)``, no frames, rgb and audio of different lengths, or a frame of the wrong
            size; the message names the video id when there is one.
    """
    context, lists = parse_sequence_example(record)
    ids = context.get("id")
    if not ids or len(ids) != 1 or not isinstance(ids[0], bytes):
        raise TFRecordError("record has no bytes 'id' in its context")
    try:
        video = ids[0].decode("utf-8")
    except UnicodeDecodeError:
        raise TFRecordError(f"record id {ids[0]!r} is not UTF-8") from None
    labels = context.get("labels", [])
    if any(not isinstance(label, int) for label in labels):
        raise TFRecordError(f"video {video}: 'labels' is not an int64 list")
    bad = [label for label in labels if not 0 <= label < num_classes]
    if bad:
        raise TFRecordError(f"video {video}: labels {bad[:5]} are outside [0, {num_classes})")
    for name in ("rgb", "audio"):
        if name not in lists:
            raise TFRecordError(f"video {video}: no '{name}' feature list")
    rgb_steps, audio_steps = lists["rgb"], lists["audio"]
    if not rgb_steps:
        raise TFRecordError(f"video {video}: no frames")
    if len(rgb_steps) != len(audio_steps):
        raise TFRecordError(f"video {video}: {len(rgb_steps)} rgb frames but {len(audio_steps)} audio frames")
    rgb = _frames(rgb_steps[:max_frames], "rgb", RGB_DIM, video)
    audio = _frames(audio_steps[:max_frames], "audio", AUDIO_DIM, video)
    return Yt8mVideo(id=video, labels=tuple(labels), rgb=dequantize(rgb), audio=dequantize(audio))


def _path_list(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(path) for path in paths]


def read_frame_level(
    paths: str | Path | Iterable[str | Path],
    *,
    max_frames: int = MAX_FRAMES,
    num_classes: int = NUM_CLASSES,
    on_error: str = "raise",
    parse: Callable[..., Yt8mVideo] = parse_video,
) -> tuple[list[Yt8mVideo], list[str]]:
    """Read every video of every frame-level file in ``paths``, in order.

    With ``on_error="raise"`` the first damaged record raises. With ``"skip"`` a record with a bad data
    CRC or a malformed message is left out, and a file that is cut short (or whose record length is
    damaged, so that the next record cannot be found) is read up to that point; each is reported as one
    line naming the file and record in the returned ``problems``. ``parse`` decodes each record
    (:func:`parse_video`, or ``core.data.yt8m_proto``'s faster one with the same results).

    Returns ``(videos, problems)``.

    Raises:
        ConfigError: ``on_error``, ``max_frames`` or ``num_classes`` is invalid.
        TFRecordError: a file does not exist, or (with ``"raise"``) a record is damaged.
    """
    if on_error not in _ON_ERROR:
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    for name, value in (("max_frames", max_frames), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    files = _path_list(paths)
    for path in files:
        if not path.is_file():
            raise TFRecordError(f"YouTube-8M record file {path} does not exist")

    videos: list[Yt8mVideo] = []
    problems: list[str] = []

    def report(error: TFRecordError) -> None:
        if on_error == "raise":
            skip = "on_error='skip' leaves damaged records out and reports them"
            raise TFRecordError(error.message, hint=f"{error.hint}; {skip}" if error.hint else skip)
        problems.append(error.message)

    for path in files:
        videos.extend(read_videos(path, report=report, parse=parse, max_frames=max_frames,
                                  num_classes=num_classes))
    return videos, problems


def read_videos(
    path: Path,
    *,
    report: Callable[[TFRecordError], None],
    parse: Callable[..., Yt8mVideo] = parse_video,
    max_frames: int = MAX_FRAMES,
    num_classes: int = NUM_CLASSES,
    keep: Callable[[], bool] | None = None,
) -> Iterator[Yt8mVideo]:
    """Yield the videos of the frame-level file ``path`` in order, handing each problem to
    ``report`` instead: a record with a bad data CRC or a malformed message (named by its file,
    index and byte offset), and the file cut short (the rest of it is not read).

    ``keep``, when given, is asked once per record found, in order; a record it declines is
    neither parsed nor reported (how a stream's readers share records).
    """
    with contextlib.closing(scan_records(path)) as records:
        while True:
            try:
                item = next(records, None)
            except TFRecordError as error:  # the rest of this file cannot be read
                report(error)
                return
            if item is None:
                return
            index, offset, data = item
            if keep is not None and not keep():
                continue
            if isinstance(data, TFRecordError):
                report(data)
                continue
            try:
                video = parse(data, max_frames=max_frames, num_classes=num_classes)
            except TFRecordError as error:
                report(TFRecordError(f"{path}: record {index} at byte {offset}: {error.message}"))
                continue
            yield video


def pad_frames(
    videos: Sequence[Yt8mVideo], max_frames: int = MAX_FRAMES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-pad the videos' frames as the starter reader does.

    Returns ``(features, mask, num_frames)``: float32 (N, max_frames, 1152) with rgb then audio, bool
    (N, max_frames) true on real frames, and int64 (N,) frame counts capped at ``max_frames``.
    """
    features = np.zeros((len(videos), max_frames, RGB_DIM + AUDIO_DIM), dtype=np.float32)
    num_frames = np.zeros(len(videos), dtype=np.int64)
    for row, video in enumerate(videos):
        n = min(video.num_frames, max_frames)
        features[row, :n, :RGB_DIM] = video.rgb[:n]
        features[row, :n, RGB_DIM:] = video.audio[:n]
        num_frames[row] = n
    mask = np.arange(max_frames)[None, :] < num_frames[:, None]
    return features, mask, num_frames


def multi_hot(videos: Sequence[Yt8mVideo], num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Return the float32 (N, num_classes) 0/1 label matrix of the videos.

    Raises:
        ConfigError: a label is not in ``[0, num_classes)``.
    """
    out = np.zeros((len(videos), num_classes), dtype=np.float32)
    for row, video in enumerate(videos):
        bad = [label for label in video.labels if not 0 <= label < num_classes]
        if bad:
            raise ConfigError(f"video {video.id} has labels {bad[:5]} outside [0, {num_classes})",
                              hint="pass the number of classes the labels were drawn from")
        out[row, list(video.labels)] = 1.0
    return out


def _encode_video(video: Yt8mVideo) -> bytes:
    rgb, audio = np.asarray(video.rgb), np.asarray(video.audio)
    if rgb.ndim != 2 or rgb.shape[1] != RGB_DIM or audio.ndim != 2 or audio.shape[1] != AUDIO_DIM:
        raise ValueError(f"video {video.id}: rgb must be (n, {RGB_DIM}) and audio (n, {AUDIO_DIM}), "
                         f"got {rgb.shape} and {audio.shape}")
    if len(rgb) != len(audio):
        raise ValueError(f"video {video.id}: {len(rgb)} rgb frames but {len(audio)} audio frames")
    return encode_sequence_example(
        {"id": [video.id.encode("utf-8")], "labels": [int(label) for label in video.labels]},
        {
            "rgb": [[row.tobytes()] for row in quantize(rgb)],
            "audio": [[row.tobytes()] for row in quantize(audio)],
        },
    )


def write_frame_level(path: str | Path, videos: Iterable[Yt8mVideo]) -> Path:
    """Write the videos, quantised, as a frame-level TFRecord file at ``path``; returns the path."""
    return write_records(path, (_encode_video(video) for video in videos))


def synthesize(
    out_dir: str | Path,
    *,
    videos_per_split: int = 100,
    num_classes: int = 10,
    frames: tuple[int, int] = (20, 60),
    seed: int = 0,
) -> list[Path]:
    """Write a small seeded frame-level dataset that a bag-of-frames model can learn.

    Writes ``train0000.tfrecord`` and ``train0001.tfrecord`` (the train split's videos, halved) and
    ``validate0000.tfrecord``, ``videos_per_split`` videos per split, and a ``vocabulary.csv`` that
    names the ``num_classes`` classes (so that the layout builds a model of that many outputs). Each
    video has 1–3 labels in ``[0, num_classes)`` and between ``frames[0]`` and ``frames[1]`` frames;
    each frame shows one topic's prototype vector (fixed by ``seed``) plus noise: one of the video's
    labels in 40 % of the frames, else one of :data:`DISTRACTORS` topics that are no class. The
    values are quantised as YouTube-8M's are.

    Returns the written paths.

    Raises:
        ConfigError: a count or the frame range is invalid.
    """
    low, high = frames
    if isinstance(videos_per_split, bool) or not isinstance(videos_per_split, int) or videos_per_split < 1:
        raise ConfigError(f"videos_per_split must be a positive integer, got {videos_per_split!r}")
    if (isinstance(num_classes, bool) or not isinstance(num_classes, int)
            or not 1 <= num_classes <= NUM_CLASSES):
        raise ConfigError(f"num_classes must be an integer in [1, {NUM_CLASSES}], got {num_classes!r}")
    if not 1 <= low <= high:
        raise ConfigError(f"frames must be a range (low, high) with 1 <= low <= high, got {frames!r}")
    rng = np.random.default_rng(seed)
    # Each second shows one of the video's classes (40 % of seconds) or one of 20 unrelated
    # topics, plus noise: a class is evidence spread over some frames, as in real videos.
    topics = num_classes + DISTRACTORS
    rgb_prototypes = rng.normal(0.0, 0.5, size=(topics, RGB_DIM)).astype(np.float32)
    audio_prototypes = rng.normal(0.0, 0.5, size=(topics, AUDIO_DIM)).astype(np.float32)

    def make(split: str, count: int) -> list[Yt8mVideo]:
        videos = []
        for index in range(count):
            k = int(rng.integers(1, min(3, num_classes) + 1))
            labels = tuple(sorted(int(c) for c in rng.choice(num_classes, size=k, replace=False)))
            n = int(rng.integers(low, high + 1))
            shown = np.where(rng.random(n) < 0.4, rng.choice(labels, size=n),
                             rng.integers(num_classes, topics, size=n))
            noise = rng.standard_normal(size=(n, RGB_DIM + AUDIO_DIM), dtype=np.float32) * np.float32(0.7)
            rgb = rgb_prototypes[shown] + noise[:, :RGB_DIM]
            audio = audio_prototypes[shown] + noise[:, RGB_DIM:]
            videos.append(Yt8mVideo(id=f"{split}{index:05d}", labels=labels, rgb=rgb, audio=audio))
        return videos

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocabulary.csv").write_text(
        "Index,Name\n" + "".join(f"{c},synthetic {c}\n" for c in range(num_classes)))
    train, validate = make("train", videos_per_split), make("validate", videos_per_split)
    half = (len(train) + 1) // 2
    return [
        write_frame_level(out / "train0000.tfrecord", train[:half]),
        write_frame_level(out / "train0001.tfrecord", train[half:]),
        write_frame_level(out / "validate0000.tfrecord", validate),
    ]
