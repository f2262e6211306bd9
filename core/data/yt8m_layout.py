"""The "youtube8m" layout: a folder of YouTube-8M frame-level TFRecord files.

ROOT holds ``train*.tfrecord`` and ``validate*.tfrecord`` (YouTube-8M's partition names; ``test*``
files have no labels and are not read). Official split 1 trains on the train partition and tests on
validate, as the NeXtVLAD paper's local runs did; ``abdn`` is a seeded 70/30 split of all labelled
videos. The features come with the data (the ``yt8m`` backbone: rgb 1,024 + audio 128 per second,
dequantised), so no video is decoded; the whole selection is read into memory once, as float16
(about 0.7 MB per 300-second video).

With ``--loading stream`` (or ``auto`` when the selection would take more than a quarter of this
machine's memory) the videos are not read ahead: training and evaluation stream the shards every
epoch (:mod:`core.data.yt8m_stream`); only split 1 streams (its partitions are the shards).

Class names come from a YouTube-8M ``vocabulary.csv`` (``Index`` and ``Name`` columns): the one
given with ``--annotations``, else ``ROOT/vocabulary.csv``, else none ("class 17"). There are 3,862
classes, or fewer when a complete vocabulary (indices 0…n−1, such as the synthetic set's) says so;
a label beyond them is an error. Damaged records are skipped and counted in the split record, never a crash mid-epoch.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.data.dataset import (
    Dataset,
    LayoutRequest,
    StreamSource,
    VideoItem,
    abdn_split,
    register_layout,
)
from core.data.youtube8m import NUM_CLASSES, Yt8mVideo, read_frame_level
from core.data.yt8m_proto import choose_parser
from core.data.yt8m_stream import count_records
from core.errors import ConfigError, DatasetLayoutError

VOCABULARY = "vocabulary.csv"
PARTITIONS = ("train", "validate")
_EXAMPLES = 3


def read_vocabulary(path: Path) -> dict[int, str]:
    """``Index → Name`` from a YouTube-8M vocabulary CSV; raises ``DatasetLayoutError``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"Index", "Name"} <= set(reader.fieldnames):
                raise DatasetLayoutError(f"{path} is not a YouTube-8M vocabulary: it needs the "
                                         "columns Index and Name")
            names = {}
            for line, row in enumerate(reader, start=2):
                try:
                    names[int(row["Index"])] = (row["Name"] or "").strip()
                except (TypeError, ValueError) as exc:
                    raise DatasetLayoutError(f"{path}, row {line}: bad Index {row['Index']!r}"
                                             ) from exc
    except OSError as exc:
        raise DatasetLayoutError(f"cannot read the vocabulary {path}: {exc.strerror}") from exc
    if any(index < 0 for index in names):
        raise DatasetLayoutError(f"{path} has a negative class index")
    return names


def _vocabulary(request: LayoutRequest) -> dict[int, str] | None:
    if request.annotations is not None:
        path = request.annotations
        if path.is_dir():
            path = path / VOCABULARY
        if not path.is_file():
            raise DatasetLayoutError(f"vocabulary file {path} does not exist")
        return read_vocabulary(path)
    default = request.root / VOCABULARY
    return read_vocabulary(default) if default.is_file() else None


def _item(path: Path, video: Yt8mVideo) -> VideoItem:
    # One file holds many videos: the item's path is the file plus the video id after "#".
    return VideoItem.multilabelled(Path(f"{path}#{video.id}"), video.labels)


def _class_count(vocabulary: dict[int, str] | None) -> int:
    # A complete vocabulary (indices 0..n-1, as the synthetic set's) sets the class count; a
    # partial one (the 2019 challenge's 1,000 rated classes) only names some of the 3,862.
    complete = vocabulary and set(vocabulary) == set(range(len(vocabulary)))
    return len(vocabulary) if complete else NUM_CLASSES


def _partition_files(root: Path) -> dict[str, list[Path]]:
    return {part: sorted(root.glob(f"{part}*.tfrecord")) for part in PARTITIONS}


def in_memory_bytes(root: Path) -> int:
    """About how much memory the in-memory path needs for ROOT's records: twice their size on
    disk (each quantised byte becomes a float16)."""
    return 2 * sum(path.stat().st_size for paths in _partition_files(root).values()
                   for path in paths)


def memory_budget() -> int:
    """The in-memory path's limit for ``--loading auto``: a quarter of this machine's memory."""
    import psutil

    return psutil.virtual_memory().total // 4


def wants_stream(root: str | Path, split: str, loading: str) -> bool:
    """Whether a youtube8m run reads ROOT as a stream: ``stream``, or ``auto`` with split 1 when
    the in-memory path would need more than :func:`memory_budget`."""
    if loading != "auto":
        return loading == "stream"
    path = Path(root).expanduser()
    return (str(split).strip() == "1" and path.is_dir()
            and in_memory_bytes(path) > memory_budget())


def _stream_dataset(request: LayoutRequest, files: dict[str, list[Path]],
                    vocabulary: dict[int, str] | None) -> Dataset:
    if request.official_split != 1 or not files["train"] or not files["validate"]:
        raise DatasetLayoutError(
            "a stream trains on train*.tfrecord and tests on validate*.tfrecord (split 1)"
            + ("" if request.official_split == 1 else ", not a random split")
            + ("" if files["train"] and files["validate"]
               else f", and {request.root} has no "
                    f"{'train' if not files['train'] else 'validate'}*.tfrecord"),
            hint="pass --split 1 with both partitions, or --loading memory for a random split "
                 "of a selection that fits in memory")
    num_classes = _class_count(vocabulary)
    source = StreamSource(
        train_files=tuple(files["train"]), test_files=tuple(files["validate"]),
        train_records=sum(count_records(path) for path in files["train"]),
        test_records=sum(count_records(path) for path in files["validate"]),
        num_classes=num_classes)
    names = vocabulary or {}
    return Dataset(name=request.root.name, root=request.root, layout="youtube8m",
                   classes=[names.get(index) or f"class {index}" for index in range(num_classes)],
                   train=[], test=[], split={"protocol": "official", "split": 1, "stream": True},
                   multilabel=True, stream=source)


@register_layout("youtube8m", official_splits=(1,), features="yt8m")
def load_youtube8m(request: LayoutRequest) -> Dataset:
    files = _partition_files(request.root)
    if not any(files.values()):
        raise DatasetLayoutError(
            f"no YouTube-8M frame-level files under {request.root}",
            hint="expected train*.tfrecord and validate*.tfrecord (try `avc data synth-yt8m DIR`)")
    vocabulary = _vocabulary(request)
    if request.stream:
        return _stream_dataset(request, files, vocabulary)
    num_classes = _class_count(vocabulary)
    items: dict[str, list[VideoItem]] = {}
    features: dict[Path, np.ndarray] = {}
    problems: list[str] = []
    for part in PARTITIONS:
        items[part] = []
        for path in files[part]:
            videos, damaged = read_frame_level(path, num_classes=num_classes, on_error="skip",
                                               parse=choose_parser())
            problems += damaged
            for video in videos:
                item = _item(path, video)
                if item.path in features:
                    raise DatasetLayoutError(f"video id {video.id!r} appears twice in {path}")
                items[part].append(item)
                features[item.path] = video.features()
    if request.official_split == 1:
        if not files["train"] or not files["validate"]:
            missing = "train" if not files["train"] else "validate"
            raise DatasetLayoutError(
                f"split 1 trains on train*.tfrecord and tests on validate*.tfrecord, and "
                f"{request.root} has no {missing}*.tfrecord",
                hint="use --split abdn for a random split of the files there are")
        train, test = items["train"], items["validate"]
        split: dict = {"protocol": "official", "split": 1}
    else:
        train, test = abdn_split([*items["train"], *items["validate"]], seed=request.seed,
                                 test_size=request.test_size)
        split = request.abdn_record()
    if problems:
        split["damaged"] = len(problems)
        split["damaged_examples"] = problems[:_EXAMPLES]
    names = vocabulary or {}
    classes = [names.get(index) or f"class {index}" for index in range(num_classes)]

    def load_features(selected: Sequence[VideoItem]) -> list[np.ndarray]:
        try:
            return [features[item.path] for item in selected]
        except KeyError as exc:
            raise ConfigError(f"{exc.args[0]} is not a video of this dataset") from exc

    return Dataset(name=request.root.name, root=request.root, layout="youtube8m", classes=classes,
                   train=train, test=test, split=split, multilabel=True,
                   load_features=load_features)
