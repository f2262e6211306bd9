"""The registered dataset layouts: "folders" (ABDN's class-folder layout), "ucf101", "hmdb51" and
"sports1m99" (ABDN's Sports-1M subset). Kinetics lives in ``core/data/kinetics.py``.

Every layout refuses to drop videos silently: a class folder without videos, a listed video missing on
disk or a folder of videos that is not a known class is a :class:`DatasetLayoutError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core.data.dataset import (
    VIDEO_EXTENSIONS,
    Dataset,
    LayoutRequest,
    VideoItem,
    abdn_split,
    register_layout,
)
from core.data.splits import (
    OFFICIAL_SPLITS,
    UCF101_CLASS_INDEX,
    SplitEntries,
    hmdb51_classes,
    parse_hmdb51_split,
    parse_ucf101_class_index,
    parse_ucf101_split,
)
from core.errors import ConfigError, DatasetLayoutError

CLASS_FOLDER_LAYOUT = "ROOT/<class>/<video>"
UCF101_ANNOTATIONS = "ucfTrainTestlist"
HMDB51_ANNOTATIONS = "testTrainMulti_7030_splits"

_EXAMPLES = 3


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _is_video(path: Path) -> bool:
    return not _is_hidden(path) and path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()


def _videos_in(folder: Path) -> list[Path]:
    """Return the video files directly inside ``folder``, sorted by name."""
    return sorted((entry for entry in folder.iterdir() if _is_video(entry)), key=lambda entry: entry.name)


def _examples(names: Iterable[str]) -> str:
    return ", ".join(list(names)[:_EXAMPLES])


def _scan_classes(root: Path, classes: list[str]) -> list[VideoItem]:
    """Return every video under ``root/<class>/`` for the given classes, labelled by position.

    Raises:
        DatasetLayoutError: a class folder is missing or holds no videos.
    """
    missing = [name for name in classes if not (root / name).is_dir()]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} of {len(classes)} class folders are missing under {root} (e.g. {_examples(missing)}); "
            f"expected the layout {CLASS_FOLDER_LAYOUT}"
        )
    items: list[VideoItem] = []
    for label, name in enumerate(classes):
        videos = _videos_in(root / name)
        if not videos:
            raise DatasetLayoutError(
                f"class folder {root / name} holds no videos (looked for {', '.join(sorted(VIDEO_EXTENSIONS))})",
                hint="remove the empty folder or add its videos; an empty class cannot be split",
            )
        items.extend(VideoItem(path=video, label=label) for video in videos)
    return items


def _refuse_unknown_video_folders(root: Path, classes: list[str], class_source: Path) -> None:
    """Raise :class:`DatasetLayoutError` if a folder under ``root`` holds videos but is not a known class."""
    known = set(classes)
    strays = sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and not _is_hidden(entry) and entry.name not in known and _videos_in(entry)
    )
    if strays:
        raise DatasetLayoutError(
            f"{len(strays)} folders under {root} hold videos but are not classes of {class_source} "
            f"(e.g. {_examples(strays)})",
            hint="move them out of the dataset folder, or use --layout folders to take every folder as a class",
        )


def _listed_items(root: Path, entries: SplitEntries, list_name: str) -> list[VideoItem]:
    """Return the listed videos as items under ``root``.

    Raises:
        DatasetLayoutError: some listed videos are not files under ``root``; the message gives the count
            and a few of them.
    """
    missing = [relative for relative, _ in entries if not (root / relative).is_file()]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} of {len(entries)} videos listed in {list_name} are missing under {root} "
            f"(e.g. {_examples(missing)})",
            hint="check that the dataset folder is the one holding the class folders and that it is complete",
        )
    return [VideoItem(path=root / relative, label=label) for relative, label in entries]


def _annotation_dir(request: LayoutRequest, default_name: str) -> Path:
    return request.annotations if request.annotations is not None else request.root / default_name


def _abdn_dataset(request: LayoutRequest, *, name: str, layout: str, classes: list[str]) -> Dataset:
    train, test = abdn_split(
        _scan_classes(request.root, classes), seed=request.seed, test_size=request.test_size
    )
    return Dataset(
        name=name, root=request.root, layout=layout, classes=classes, train=train, test=test,
        split=request.abdn_record(),
    )


@register_layout("folders")
def load_class_folders(request: LayoutRequest) -> Dataset:
    """Return the dataset of ABDN's layout ``ROOT/<class>/<video>`` with a seeded ABDN split.

    Classes are the non-hidden sub-folders of ROOT, sorted by name.

    Raises:
        ConfigError: an annotation folder was given (this layout has none).
        DatasetLayoutError: ROOT has no class folders, or a class folder holds no videos.
    """
    root = request.root
    if request.annotations is not None:
        raise ConfigError(
            "the 'folders' layout reads no annotation files; --annotations needs --layout ucf101 or hmdb51"
        )
    # ABDN labelled classes in os.listdir order, which depends on the filesystem; sorting makes the
    # label of every class, and so every checkpoint, reproducible across machines.
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not _is_hidden(entry))
    if not classes:
        loose = [entry.name for entry in sorted(root.iterdir()) if _is_video(entry)]
        found = f"; found {len(loose)} videos directly in it (e.g. {_examples(loose)})" if loose else ""
        raise DatasetLayoutError(
            f"dataset folder {root} holds no class folders{found}; expected the layout {CLASS_FOLDER_LAYOUT}",
            hint="put each class's videos in a folder of its own under it, or pass --layout for "
                 "an official dataset's layout",
        )
    return _abdn_dataset(request, name=root.name, layout="folders", classes=classes)


@register_layout("ucf101", official_splits=OFFICIAL_SPLITS)
def load_ucf101(request: LayoutRequest) -> Dataset:
    """Return UCF-101 from ``ROOT/<Class>/v_<Class>_gXX_cYY.avi`` with an official or the ABDN split.

    Annotations default to ``ROOT/ucfTrainTestlist``. The ABDN split takes every video on disk in the
    ``classInd.txt`` class folders.

    Raises:
        DatasetLayoutError: annotation files missing or malformed, listed videos missing on disk, a class
            folder missing or empty, or a folder of videos that is not a ``classInd.txt`` class.
    """
    annotation_dir = _annotation_dir(request, UCF101_ANNOTATIONS)
    split = request.official_split
    if split is None:
        if not annotation_dir.is_dir():
            raise DatasetLayoutError(
                f"annotation folder {annotation_dir} does not exist; expected UCF-101's {UCF101_CLASS_INDEX} in it",
                hint="pass --annotations FOLDER to point at the official ucfTrainTestlist folder",
            )
        class_index = annotation_dir / UCF101_CLASS_INDEX
        classes = parse_ucf101_class_index(class_index)
        _refuse_unknown_video_folders(request.root, classes, class_index)
        return _abdn_dataset(request, name="UCF-101", layout="ucf101", classes=classes)

    classes, train_entries, test_entries = parse_ucf101_split(annotation_dir, split)
    return Dataset(
        name="UCF-101",
        root=request.root,
        layout="ucf101",
        classes=classes,
        train=_listed_items(request.root, train_entries, f"trainlist0{split}.txt"),
        test=_listed_items(request.root, test_entries, f"testlist0{split}.txt"),
        split={"protocol": "official", "split": split},
    )


@register_layout("hmdb51", official_splits=OFFICIAL_SPLITS)
def load_hmdb51(request: LayoutRequest) -> Dataset:
    """Return HMDB-51 from ``ROOT/<class>/<video>.avi`` with an official or the ABDN split.

    Annotations default to ``ROOT/testTrainMulti_7030_splits``. Official splits use flag 1 for train and
    2 for test; flag-0 videos are left out. The ABDN split takes every video on disk in the class folders.

    Raises:
        DatasetLayoutError: annotation files missing or malformed, listed videos missing on disk, a class
            folder missing or empty, or a folder of videos that is not an HMDB-51 class.
    """
    annotation_dir = _annotation_dir(request, HMDB51_ANNOTATIONS)
    split = request.official_split
    if split is None:
        classes = hmdb51_classes(annotation_dir)
        _refuse_unknown_video_folders(request.root, classes, annotation_dir)
        return _abdn_dataset(request, name="HMDB-51", layout="hmdb51", classes=classes)

    classes, train_entries, test_entries = parse_hmdb51_split(annotation_dir, split)
    files = f"the *_test_split{split}.txt files"
    return Dataset(
        name="HMDB-51",
        root=request.root,
        layout="hmdb51",
        classes=classes,
        train=_listed_items(request.root, train_entries, f"{files} (flag 1, train)"),
        test=_listed_items(request.root, test_entries, f"{files} (flag 2, test)"),
        split={"protocol": "official", "split": split},
    )


# ABDN's Sports-1M subset: 99 classes among the first 202 Sports-1M labels, in the order of its
# "labels (99 classes).txt" (alphabetical). Its downloader left one folder per class name, named as
# Sports-1M's labels.txt spells it ("pétanque"; ABDN's list writes "petanque": both are accepted).
SPORTS1M_99 = (
    "abseiling", "archery", "artistic gymnastics", "backstroke", "baguazhang", "balance beam",
    "bmx", "board sports", "bobsleigh", "bocce", "bodyboarding", "boomerang", "boules", "bowling",
    "bowls", "breaststroke", "bujinkan", "butterfly stroke", "carom billiards", "croquet",
    "cross-country skiing", "cue sports", "curling", "cyclo-cross", "decathlon", "dirt jumping",
    "duathlon", "figure skating", "flying trapeze", "freeboard (skateboard)", "freeride",
    "freestyle bmx", "freestyle scootering", "freestyle skiing", "freestyle swimming",
    "gymnastics", "hapkido", "heptathlon", "horizontal bar", "jeet kune do", "judo",
    "juggling club", "kajukenbo", "kalaripayattu", "kite", "kite landboarding", "kitesurfing",
    "knife throwing", "krav maga", "kuk sool won", "luge", "mountainboarding", "ninjutsu",
    "nordic skiing", "northern praying mantis (martial art)", "parallel bars", "parasailing",
    "pehlwani", "pencak silat", "pentathlon", "pétanque", "pole climbing (gymnastic)",
    "pommel horse", "practical shooting", "race walking", "rings (gymnastics)",
    "road bicycle racing", "rope climbing", "russian pyramid", "shooting sport", "shorinji kempo",
    "shuai jiao", "shuffleboard", "skateboarding", "skee ball", "skeleton (sport)", "ski jumping",
    "skibobbing", "skijoring", "skimboarding", "skipping rope", "skittles (sport)", "slacklining",
    "sled dog racing", "speed skating", "sporting clays", "squash (sport)", "streetluge",
    "strength athletics", "swimming (sport)", "telemark skiing", "ten-pin bowling", "trapeze",
    "unicycle", "vovinam", "wakeboarding", "wakesurfing", "wallball", "xing yi quan",
)


@register_layout("sports1m99")
def load_sports1m_99(request: LayoutRequest) -> Dataset:
    """Return ABDN's Sports-1M-99 from ``ROOT/<class name>/<video>`` with the ABDN split.

    Raises:
        ConfigError: an annotation folder was given (the class list is built in).
        DatasetLayoutError: a class folder is missing or empty, or a folder of videos is not one
            of the 99 classes.
    """
    if request.annotations is not None:
        raise ConfigError("the 'sports1m99' layout has its class list built in; drop --annotations")
    classes = [
        "petanque" if name == "pétanque" and (request.root / "petanque").is_dir()
        and not (request.root / name).is_dir() else name
        for name in SPORTS1M_99
    ]
    _refuse_unknown_video_folders(request.root, classes, Path("ABDN's Sports-1M-99 list"))
    return _abdn_dataset(request, name="Sports-1M-99", layout="sports1m99", classes=classes)
