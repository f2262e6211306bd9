"""Datasets as avc sees them: labelled video files, class names, a train/test split and how it was made.

A *layout* turns a folder on disk (plus, for some datasets, the official annotation files) into a
:class:`Dataset`. Layouts live in a registry filled by :func:`register_layout`; :func:`load_dataset` is
the one entry point and validates the split request before any layout touches the disk.

The ABDN protocol, a random 70/30 split over all videos, is reproduced by :func:`abdn_split`, but seeded
and recorded in :attr:`Dataset.split` so that an experiment can be repeated exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ConfigError, DatasetLayoutError

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp"}
)

ABDN_SPLIT = "abdn"


@dataclass(frozen=True)
class VideoItem:
    """One labelled video: its absolute path and its label, an index into :attr:`Dataset.classes`.

    Single-label datasets set ``label`` and leave ``labels`` empty. Multi-label datasets
    (:attr:`Dataset.multilabel`) set ``labels`` to the sorted indices of every class the video shows,
    which may be none, and ``label`` to the first of them, or -1 when there is none; ``label`` then
    only orders the videos and must not be read as the video's class. Build such items with
    :meth:`multilabelled`.
    """

    path: Path
    label: int
    labels: tuple[int, ...] = ()

    @classmethod
    def multilabelled(cls, path: Path, labels: Iterable[int]) -> VideoItem:
        """Return the item of a multi-label video: ``labels`` sorted and deduplicated, ``label`` the first or -1."""
        ordered = tuple(sorted(set(labels)))
        return cls(path=path, label=ordered[0] if ordered else -1, labels=ordered)


@dataclass(frozen=True)
class StreamSource:
    """The files of a dataset read as a stream, and their record counts (from the headers)."""

    train_files: tuple[Path, ...]
    test_files: tuple[Path, ...]
    train_records: int
    test_records: int
    num_classes: int


@dataclass
class Dataset:
    """A labelled video dataset with its train/test split.

    ``split`` says how the split was made and is JSON-serialisable, e.g.
    ``{"protocol": "abdn", "seed": 0, "test_size": 0.3}``, ``{"protocol": "official", "split": 1}`` or
    ``{"protocol": "official", "split": 3, "scheme": "leave-one-group-out", "test_group": 3}``.

    ``multilabel`` is true for datasets where a video shows any number of classes (Hollywood2): their
    items carry :attr:`VideoItem.labels`, see there.

    ``load_features`` is set by layouts whose features come with the data (YouTube-8M): it returns
    each item's (frames, D) float array, and no video is decoded.

    ``stream`` is set instead when the data is read as a stream (YouTube-8M at scale, see
    :mod:`core.data.yt8m_stream`): its train and test files; ``train`` and ``test`` are then empty,
    the videos are not listed ahead.
    """

    name: str
    root: Path
    layout: str
    classes: list[str]
    train: list[VideoItem]
    test: list[VideoItem]
    split: dict = field(default_factory=dict)
    multilabel: bool = False
    load_features: Callable[[Sequence[VideoItem]], list[np.ndarray]] | None = field(
        default=None, repr=False, compare=False)
    stream: StreamSource | None = field(default=None, repr=False, compare=False)

    @property
    def brings_features(self) -> bool:
        """Whether the features come with the data (in memory or streamed): nothing to extract."""
        return self.load_features is not None or self.stream is not None

    def items(self) -> list[VideoItem]:
        """Return every video of the dataset, train first, then test."""
        return [*self.train, *self.test]

    def summary(self) -> str:
        """Return a one-line description, e.g. ``"X: 8 classes, 84 train / 36 test videos (abdn split, seed 0)"``.

        A multi-label dataset says so: ``"Hollywood2: 12 classes (multi-label), 823 train / 884 test …"``.
        """
        kind = " (multi-label)" if self.multilabel else ""
        if self.stream is not None:
            counts = (f"{self.stream.train_records:,} train / {self.stream.test_records:,} test "
                      f"records in {len(self.stream.train_files)} + "
                      f"{len(self.stream.test_files)} files, streamed")
        else:
            counts = f"{len(self.train)} train / {len(self.test)} test videos"
        text = (f"{self.name}: {len(self.classes)} classes{kind}, {counts} "
                f"({_describe_split(self.split)})")
        if self.split.get("damaged"):
            examples = "; ".join(self.split.get("damaged_examples", []))
            text += f"; {self.split['damaged']} damaged records skipped (e.g. {examples})"
        if self.split.get("missing"):
            examples = ", ".join(self.split.get("missing_examples", []))
            text += (f"; {self.split['missing']} listed videos are not on disk and are left out "
                     f"(e.g. {examples})")
        return text


def _describe_split(split: dict) -> str:
    protocol = split.get("protocol")
    if protocol == ABDN_SPLIT:
        text = f"abdn split, seed {split.get('seed')}"
        test_size = split.get("test_size")
        # The default 0.3 is the paper's; only a different fraction is worth the extra words.
        if test_size is not None and test_size != 0.3:
            text += f", test size {test_size}"
        return text
    if protocol == "official":
        text = f"official split {split.get('split')}"
        if split.get("scheme") == "leave-one-group-out":
            text += f", leave-one-group-out: group {split.get('test_group', split.get('split'))} is the test set"
        return text
    return f"{protocol} split"


@dataclass(frozen=True)
class LayoutRequest:
    """What a layout loader is asked for; built and validated by :func:`load_dataset`.

    ``official_split`` is an official split number of the layout or ``None`` for the seeded ABDN split, in
    which case ``seed`` and ``test_size`` apply. ``annotations`` is the annotation folder the user gave,
    or ``None`` for the layout's default.
    """

    root: Path
    official_split: int | None
    seed: int
    test_size: float
    annotations: Path | None
    stream: bool = False  # read as a stream (layouts that can: youtube8m)

    def abdn_record(self) -> dict:
        """Return the JSON-serialisable record of an ABDN split made with this request's seed and size."""
        return {"protocol": ABDN_SPLIT, "seed": self.seed, "test_size": self.test_size}


LayoutLoader = Callable[[LayoutRequest], Dataset]


@dataclass(frozen=True)
class Layout:
    """A registered layout: its name, its loader, the official split numbers it understands and,
    for layouts that come with their features, the backbone name those features go by."""

    name: str
    load: LayoutLoader
    official_splits: tuple[int, ...]
    features: str | None = None


_LAYOUTS: dict[str, Layout] = {}


def register_layout(name: str, *, official_splits: Sequence[int] = (), features: str | None = None
                    ) -> Callable[[LayoutLoader], LayoutLoader]:
    """Return a decorator that registers a loader ``(LayoutRequest) -> Dataset`` under ``name``.

    ``official_splits`` lists the split numbers the layout reads from official annotation files; a
    layout without any only offers the seeded ABDN split. ``features`` names the precomputed backbone
    of a layout whose features come with the data.

    Raises:
        ValueError: a layout of that name is already registered.
    """
    if name in _LAYOUTS:
        raise ValueError(f"a dataset layout named {name!r} is already registered")

    def decorate(loader: LayoutLoader) -> LayoutLoader:
        if name in _LAYOUTS:
            raise ValueError(f"a dataset layout named {name!r} is already registered")
        _LAYOUTS[name] = Layout(name=name, load=loader, official_splits=tuple(official_splits),
                                features=features)
        return loader

    return decorate


def layout_features(name: str) -> str | None:
    """The precomputed backbone that layout ``name`` comes with, or None for video layouts."""
    layout = _LAYOUTS.get(name)
    return layout.features if layout else None


def layout_names() -> list[str]:
    """Return the names of all registered layouts, sorted."""
    return sorted(_LAYOUTS)


def _official_split_number(layout: Layout, split: str) -> int | None:
    """Return the official split number asked for, or ``None`` for the ABDN split.

    Raises:
        ConfigError: ``split`` is not a split this layout (or any layout) offers.
    """
    if split == ABDN_SPLIT:
        return None
    if split.isdigit() and int(split) in layout.official_splits:
        return int(split)
    if split.isdigit() and not layout.official_splits:
        number = int(split)
        offering = [f"--layout {other.name}" for other in _LAYOUTS.values() if number in other.official_splits]
        if offering:
            raise ConfigError(
                f"split {split} is an official split, and the {layout.name!r} layout has no official split "
                f"files; official splits need {' or '.join(offering)}",
                hint=f"use --split {ABDN_SPLIT} for a seeded random 70/30 split of the {layout.name!r} layout",
            )
    valid = [ABDN_SPLIT, *_number_ranges(layout.official_splits)]
    raise ConfigError(
        f"unknown split {split!r} for layout {layout.name!r}; valid splits: {', '.join(valid)}",
        hint=f"for example --split {valid[-1]}; {ABDN_SPLIT} is the paper's seeded random 70/30",
    )


LAYOUT_HINT = ("folders takes ROOT/<class>/<video>; the README's Datasets section shows the "
               "others")


def _number_ranges(numbers: Sequence[int]) -> list[str]:
    """Return ``numbers`` as text, runs of four or more written as ranges: ``(1, …, 25)`` → ``["1-25"]``."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    texts: list[str] = []
    for run in runs:
        texts.extend([f"{run[0]}-{run[-1]}"] if len(run) >= 4 else [str(number) for number in run])
    return texts


def _check_abdn_parameters(*, seed: int, test_size: float) -> None:
    """Raise :class:`ConfigError` unless ``seed`` is a non-negative int and ``0 < test_size < 1``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"split seed must be a non-negative integer, got {seed!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise ConfigError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}",
            hint="the ABDN protocol uses 0.3",
        )


def load_dataset(
    root: str | Path,
    *,
    layout: str = "folders",
    split: str = ABDN_SPLIT,
    seed: int = 0,
    test_size: float = 0.3,
    annotations: str | Path | None = None,
    stream: bool = False,
) -> Dataset:
    """Load the dataset under ``root`` with the named layout and split.

    ``split`` is ``"abdn"`` (a seeded random split, see :func:`abdn_split`) or one of the layout's official
    split numbers (``"1"``, ``"2"``, ``"3"`` for UCF-101 and HMDB-51, ``"1"`` … ``"25"`` for UCF-11).
    ``annotations`` overrides the layout's default annotation folder. ``stream`` asks a layout
    that can (youtube8m) for its files instead of its videos (:attr:`Dataset.stream`).

    Returns the :class:`Dataset`, whose ``split`` records how the split was made.

    Raises:
        ConfigError: unknown layout, unknown split, an official split on a layout without one, or an
            invalid seed or test_size.
        DatasetLayoutError: ``root`` is missing or not laid out as the layout expects, annotation files
            are missing or malformed, or listed videos are missing on disk.
    """
    if layout not in _LAYOUTS:
        raise ConfigError(
            f"unknown dataset layout {layout!r}; known layouts: {', '.join(layout_names())}",
            hint=LAYOUT_HINT,
        )
    chosen = _LAYOUTS[layout]
    split_text = str(split).strip().lower()
    official = _official_split_number(chosen, split_text)
    if official is None:
        _check_abdn_parameters(seed=seed, test_size=test_size)

    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise DatasetLayoutError(f"dataset folder {root_path} does not exist",
                                 hint="check the path; `avc data synth DIR` writes a small "
                                      "dataset to try avc on")
    if not root_path.is_dir():
        raise DatasetLayoutError(f"dataset folder {root_path} is not a folder",
                                 hint="pass the folder that holds the dataset, not a file in it")

    request = LayoutRequest(
        root=root_path.resolve(),
        official_split=official,
        seed=seed,
        test_size=float(test_size),
        annotations=Path(annotations).expanduser().resolve() if annotations is not None else None,
        stream=stream,
    )
    return chosen.load(request)


def _item_order(item: VideoItem) -> tuple[int, str]:
    # A multi-label item without any class has label -1 and sorts first; paths are unique, so the order
    # is total either way.
    return (item.label, item.path.as_posix())


def abdn_split(
    items: Sequence[VideoItem], *, seed: int, test_size: float = 0.3
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Split ``items`` at random into train and test, as ABDN's ``train_test_split(test_size=0.3)`` did.

    Like scikit-learn's ``ShuffleSplit``: ``n_test = ceil(test_size * n)``, a permutation drawn from
    ``numpy.random.default_rng(seed)``, test = the first ``n_test`` of the permutation, train = the rest.
    The items are put in (label, path) order before the permutation, so the result depends only on the
    set of items and the seed, not on the order a filesystem listed them in. Multi-label items are
    ordered the same way, by their first class (-1 when they have none). The split is **not**
    stratified, because ABDN's was not: a class may be over- or under-represented in the test set.

    Returns ``(train, test)``, each sorted by (label, path).

    Raises:
        ConfigError: ``seed`` is not a non-negative int, or ``test_size`` is not strictly between 0 and 1.
        DatasetLayoutError: there are too few items to leave at least one video on each side.
    """
    _check_abdn_parameters(seed=seed, test_size=test_size)
    ordered = sorted(items, key=_item_order)
    n = len(ordered)
    # The same arithmetic as scikit-learn's _validate_shuffle_split, so 13,320 UCF-101 videos give the
    # paper's 9,324 / 3,996.
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    if n_test < 1 or n_train < 1:
        raise DatasetLayoutError(
            f"{n} videos are too few for a random split with test_size {test_size}: "
            f"it would leave {n_train} train and {n_test} test videos",
            hint="a split needs at least one video on each side",
        )
    permutation = np.random.default_rng(seed).permutation(n)
    test = sorted((ordered[i] for i in permutation[:n_test]), key=_item_order)
    train = sorted((ordered[i] for i in permutation[n_test:]), key=_item_order)
    return train, test
