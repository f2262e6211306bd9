"""The UCF-11 layout ("UCF YouTube Action"): ``ROOT/<class>/v_<action>_<GG>/v_<action>_<GG>_<CC>.avi``.

The archive has 11 class folders (basketball, biking, diving, golf_swing, horse_riding, soccer_juggling,
swing, tennis_swing, trampoline_jumping, volleyball_spiking, walking), matched without regard to case;
each holds 25 group folders of clips, and some releases an ``Annotation`` folder, which is skipped.
Videos are found at any depth under a class folder. The group ``GG`` of a clip is the number before the
last underscore of its name: ``v_shooting_01_03.avi`` and ``v_walk_dog_01_03.avi`` are group 1.

Splits: ``abdn`` (seeded random 70/30 over every clip) and the authors' protocol (Liu, Luo & Shah,
CVPR 2009), 25-fold leave-one-group-out cross-validation: official split N tests on the clips of group N
and trains on the other 24 groups. The layout reads no annotation files.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.data.dataset import (
    VIDEO_EXTENSIONS,
    Dataset,
    LayoutRequest,
    VideoItem,
    abdn_split,
    register_layout,
)
from core.data.layouts import _examples, _is_video
from core.errors import ConfigError, DatasetLayoutError

UCF11_CLASSES: tuple[str, ...] = (
    "basketball", "biking", "diving", "golf_swing", "horse_riding", "soccer_juggling", "swing",
    "tennis_swing", "trampoline_jumping", "volleyball_spiking", "walking",
)
UCF11_GROUPS: tuple[int, ...] = tuple(range(1, 26))
UCF11_LAYOUT = "ROOT/<class>/v_<action>_<GG>/v_<action>_<GG>_<CC>.avi"
ANNOTATION_FOLDER = "annotation"

# "<anything>_<group>_<clip>": the group is the number before the last underscore.
_CLIP_NAME = re.compile(r"^.+_(?P<group>\d+)_(?P<clip>\d+)$")


def _skipped(part: str) -> bool:
    return part.startswith(".") or part.lower() == ANNOTATION_FOLDER


def _videos_under(folder: Path) -> list[Path]:
    """Return the videos at any depth under ``folder``, skipping hidden and ``Annotation`` folders, sorted."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(_skipped(part) for part in relative.parts[:-1]) or not _is_video(path):
            continue
        found.append(path)
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def clip_group(path: Path) -> int | None:
    """Return the group number of a UCF-11 clip from its name (``v_shooting_01_03.avi`` → 1), or ``None``."""
    match = _CLIP_NAME.match(path.stem)
    return int(match["group"]) if match else None


def _class_folders(root: Path) -> dict[str, Path]:
    """Return each UCF-11 class's folder under ``root``, matched without regard to case.

    Raises:
        DatasetLayoutError: two folders match one class, a class folder is missing, or a folder that
            holds videos is not a UCF-11 class.
    """
    known = set(UCF11_CLASSES)
    folders: dict[str, Path] = {}
    strays: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda entry: entry.name):
        if not entry.is_dir() or _skipped(entry.name):
            continue
        name = entry.name.lower()
        if name in known:
            if name in folders:
                raise DatasetLayoutError(
                    f"folders {folders[name].name!r} and {entry.name!r} under {root} are both UCF-11 class {name!r}",
                    hint="merge them or move one out of the dataset folder",
                )
            folders[name] = entry
        elif _videos_under(entry):
            strays.append(entry.name)
    if strays:
        raise DatasetLayoutError(
            f"{len(strays)} folders under {root} hold videos but are not UCF-11 classes (e.g. {_examples(strays)})",
            hint=f"move them out of the dataset folder; UCF-11's classes are {', '.join(UCF11_CLASSES)}",
        )
    missing = [name for name in UCF11_CLASSES if name not in folders]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} of {len(UCF11_CLASSES)} UCF-11 class folders are missing under {root} "
            f"(e.g. {_examples(missing)}); expected the layout {UCF11_LAYOUT}",
            hint="use --layout folders for a dataset with other classes",
        )
    return folders


def _scan(root: Path) -> list[VideoItem]:
    """Return every UCF-11 clip under ``root``, labelled by the class order of :data:`UCF11_CLASSES`.

    Raises:
        DatasetLayoutError: see :func:`_class_folders`, or a class folder holds no videos.
    """
    folders = _class_folders(root)
    items: list[VideoItem] = []
    for label, name in enumerate(UCF11_CLASSES):
        videos = _videos_under(folders[name])
        if not videos:
            raise DatasetLayoutError(
                f"class folder {folders[name]} holds no videos (looked for {', '.join(sorted(VIDEO_EXTENSIONS))} "
                "at any depth)",
                hint="add the class's clips; an empty class cannot be split",
            )
        items.extend(VideoItem(path=video, label=label) for video in videos)
    return items


def _leave_one_group_out(items: list[VideoItem], group: int, root: Path) -> tuple[list[VideoItem], list[VideoItem]]:
    """Return ``(train, test)`` with the clips of ``group`` as the test set.

    Raises:
        DatasetLayoutError: a clip's name has no group number or one outside 1-25, or one side is empty.
    """
    unparsed = [item.path.relative_to(root).as_posix() for item in items if clip_group(item.path) is None]
    if unparsed:
        raise DatasetLayoutError(
            f"{len(unparsed)} clips under {root} have no group number in their name (e.g. {_examples(unparsed)}); "
            "expected names like v_shooting_01_03.avi (group 01, clip 03)",
            hint="rename them, move them out of the dataset folder, or use --split abdn, which needs no groups",
        )
    outside = [
        item.path.relative_to(root).as_posix() for item in items if clip_group(item.path) not in UCF11_GROUPS
    ]
    if outside:
        raise DatasetLayoutError(
            f"{len(outside)} clips under {root} have a group number outside 01-25 (e.g. {_examples(outside)}); "
            "the official splits hold out one of UCF-11's 25 groups each",
            hint="rename them, move them out of the dataset folder, or use --split abdn, which needs no groups",
        )
    test = [item for item in items if clip_group(item.path) == group]
    train = [item for item in items if clip_group(item.path) != group]
    if not test or not train:
        side, other = ("test", f"no clip of group {group:02d}") if not test else ("train", f"only group {group:02d}")
        raise DatasetLayoutError(
            f"official split {group} would leave the {side} set empty: {root} holds {other}",
            hint="check that the dataset folder holds all 25 groups, or use --split abdn",
        )
    return train, test


@register_layout("ucf11", official_splits=UCF11_GROUPS)
def load_ucf11(request: LayoutRequest) -> Dataset:
    """Return UCF-11 from ROOT with the ABDN split or a leave-one-group-out split; see the module docstring.

    Raises:
        ConfigError: an annotation folder was given (the layout reads none).
        DatasetLayoutError: a class folder is missing, duplicated or empty, a folder of videos is not a
            UCF-11 class, or (official splits) a clip's name has no valid group number.
    """
    if request.annotations is not None:
        raise ConfigError("the 'ucf11' layout reads no annotation files (its splits come from the clip names); "
                          "drop --annotations")
    items = _scan(request.root)
    if request.official_split is None:
        train, test = abdn_split(items, seed=request.seed, test_size=request.test_size)
        split = request.abdn_record()
    else:
        group = request.official_split
        train, test = _leave_one_group_out(items, group, request.root)
        split = {"protocol": "official", "split": group, "scheme": "leave-one-group-out", "test_group": group}
    return Dataset(
        name="UCF-11", root=request.root, layout="ucf11", classes=list(UCF11_CLASSES), train=train, test=test,
        split=split,
    )
