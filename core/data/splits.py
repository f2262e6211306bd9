"""Parsers of the official UCF-101 and HMDB-51 split files; they read annotation text, never videos.

UCF-101 (``ucfTrainTestlist``): ``classInd.txt`` holds ``"<1-based index> <ClassName>"`` lines,
``trainlist0N.txt`` holds ``"<Class>/v_<Class>_gXX_cYY.avi <1-based label>"`` and ``testlist0N.txt``
holds the path alone. HMDB-51 (``testTrainMulti_7030_splits``): one ``<class>_test_splitN.txt`` per class
and split, lines ``"<video>.avi <flag> "`` with flag 1 = train, 2 = test, 0 = unused.

The distributed files have CRLF line endings (UCF-101) or a trailing space on every line (HMDB-51);
both, blank lines, a missing final newline and a UTF-8 byte-order mark are accepted.
Labels returned are 0-based; relative paths use ``/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import ConfigError, DatasetLayoutError

OFFICIAL_SPLITS: tuple[int, ...] = (1, 2, 3)

UCF101_CLASS_INDEX = "classInd.txt"
HMDB51_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")

SplitEntries = list[tuple[str, int]]


def _check_split_number(split: int) -> None:
    if isinstance(split, bool) or not isinstance(split, int) or split not in OFFICIAL_SPLITS:
        raise ConfigError(
            f"official split must be one of {', '.join(map(str, OFFICIAL_SPLITS))}, got {split!r}"
        )


def _check_annotation_dir(annotation_dir: Path, expected: str) -> None:
    if not annotation_dir.is_dir():
        raise DatasetLayoutError(
            f"annotation folder {annotation_dir} does not exist; expected a folder holding {expected}",
            hint="pass --annotations FOLDER to point at the official split files",
        )


def _read_lines(path: Path, expected: str) -> list[tuple[int, str]]:
    """Return the (1-based line number, stripped text) of every non-blank line of ``path``.

    Raises:
        DatasetLayoutError: the file is missing, unreadable or not UTF-8 text; the message says what
            the file should have held.
    """
    if not path.is_file():
        raise DatasetLayoutError(f"split file {path} does not exist; expected {expected}")
    try:
        # utf-8-sig drops a byte-order mark that some editors add; universal newlines absorb CRLF.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetLayoutError(f"split file {path} cannot be read as UTF-8 text: {error}") from error
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _relative_video_path(raw: str, path: Path, number: int) -> tuple[str, str]:
    """Return ``(class folder, relative path)`` of a ``"<Class>/<video>"`` entry.

    Raises:
        DatasetLayoutError: the entry is not of the form ``<Class>/<video>``.
    """
    # Lists edited on Windows sometimes carry backslashes; the class folder is the same.
    relative = raw.replace("\\", "/")
    parts = relative.split("/")
    if len(parts) != 2 or not all(parts):
        raise DatasetLayoutError(
            f"{path} line {number}: expected '<Class>/<video>', got {raw!r}",
        )
    return parts[0], relative


def parse_ucf101_class_index(path: str | Path) -> list[str]:
    """Return the class names of a UCF-101 ``classInd.txt`` in label order (label 0 = index 1).

    Raises:
        DatasetLayoutError: the file is missing, a line is not ``"<index> <ClassName>"``, or the indices
            are not 1, 2, 3, … in order.
    """
    path = Path(path)
    classes: list[str] = []
    for number, line in _read_lines(path, "UCF-101's classInd.txt with lines '<1-based index> <ClassName>'"):
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or not fields[0].isdigit():
            raise DatasetLayoutError(f"{path} line {number}: expected '<1-based index> <ClassName>', got {line!r}")
        index, name = int(fields[0]), fields[1]
        if index != len(classes) + 1:
            raise DatasetLayoutError(
                f"{path} line {number}: class index {index} out of order, expected {len(classes) + 1}"
            )
        if name in classes:
            raise DatasetLayoutError(f"{path} line {number}: class {name!r} is listed twice")
        classes.append(name)
    if not classes:
        raise DatasetLayoutError(f"{path} lists no classes; expected lines '<1-based index> <ClassName>'")
    return classes


def parse_ucf101_split(
    annotation_dir: str | Path, split: int
) -> tuple[list[str], SplitEntries, SplitEntries]:
    """Return ``(classes, train, test)`` of UCF-101 official split ``split`` (1, 2 or 3).

    ``train`` and ``test`` hold ``("Class/v_Class_gXX_cYY.avi", 0-based label)`` in file order. Train
    labels are read from the list and checked against ``classInd.txt``; test labels come from the class
    folder of each path, looked up in ``classInd.txt``.

    Raises:
        ConfigError: ``split`` is not 1, 2 or 3.
        DatasetLayoutError: the folder or a file is missing, a line is malformed, a class is not in
            ``classInd.txt``, a train label disagrees with it, or a video is listed twice.
    """
    _check_split_number(split)
    annotation_dir = Path(annotation_dir)
    _check_annotation_dir(
        annotation_dir, f"UCF-101's {UCF101_CLASS_INDEX}, trainlist0{split}.txt and testlist0{split}.txt"
    )
    classes = parse_ucf101_class_index(annotation_dir / UCF101_CLASS_INDEX)
    label_of = {name: label for label, name in enumerate(classes)}

    train_path = annotation_dir / f"trainlist0{split}.txt"
    train: SplitEntries = []
    seen: set[str] = set()
    for number, line in _read_lines(
        train_path, f"UCF-101's trainlist0{split}.txt with lines '<Class>/<video>.avi <1-based label>'"
    ):
        fields = line.rsplit(maxsplit=1)
        if len(fields) != 2 or not fields[1].isdigit():
            raise DatasetLayoutError(
                f"{train_path} line {number}: expected '<Class>/<video>.avi <1-based label>', got {line!r}"
            )
        folder, relative = _relative_video_path(fields[0], train_path, number)
        if folder not in label_of:
            raise DatasetLayoutError(f"{train_path} line {number}: class {folder!r} is not in {UCF101_CLASS_INDEX}")
        listed = int(fields[1])
        if listed != label_of[folder] + 1:
            raise DatasetLayoutError(
                f"{train_path} line {number}: label {listed} for {relative!r} disagrees with "
                f"{UCF101_CLASS_INDEX}, which gives {folder!r} index {label_of[folder] + 1}"
            )
        if relative in seen:
            raise DatasetLayoutError(f"{train_path} line {number}: {relative!r} is listed twice")
        seen.add(relative)
        train.append((relative, label_of[folder]))

    test_path = annotation_dir / f"testlist0{split}.txt"
    test: SplitEntries = []
    seen.clear()
    for number, line in _read_lines(test_path, f"UCF-101's testlist0{split}.txt with lines '<Class>/<video>.avi'"):
        folder, relative = _relative_video_path(line, test_path, number)
        if folder not in label_of:
            raise DatasetLayoutError(f"{test_path} line {number}: class {folder!r} is not in {UCF101_CLASS_INDEX}")
        if relative in seen:
            raise DatasetLayoutError(f"{test_path} line {number}: {relative!r} is listed twice")
        seen.add(relative)
        test.append((relative, label_of[folder]))
    return classes, train, test


def hmdb51_classes(annotation_dir: str | Path) -> list[str]:
    """Return the HMDB-51 class names, sorted, taken from the ``<class>_test_splitN.txt`` file names.

    Sorting the names gives mmaction2's label order ("kick" before "kick_ball"); TSN's
    ``class_list.txt`` lists the files' order instead ("kick_ball" first), so its labels differ.

    Raises:
        DatasetLayoutError: the folder is missing or holds no split files.
    """
    annotation_dir = Path(annotation_dir)
    _check_annotation_dir(annotation_dir, "HMDB-51's <class>_test_split{1,2,3}.txt files")
    names = set()
    for entry in annotation_dir.iterdir():
        match = HMDB51_SPLIT_FILE.match(entry.name)
        if match and entry.is_file():
            names.add(match["cls"])
    if not names:
        raise DatasetLayoutError(
            f"annotation folder {annotation_dir} holds no HMDB-51 split files; "
            "expected <class>_test_split1.txt … <class>_test_split3.txt (testTrainMulti_7030_splits)"
        )
    return sorted(names)


def parse_hmdb51_split(
    annotation_dir: str | Path, split: int
) -> tuple[list[str], SplitEntries, SplitEntries]:
    """Return ``(classes, train, test)`` of HMDB-51 official split ``split`` (1, 2 or 3).

    ``classes`` are sorted from the split files' names; ``train`` (flag 1) and ``test`` (flag 2) hold
    ``("<class>/<video>.avi", 0-based label)`` in class order, then file order. Flag-0 videos are unused
    by the split and appear in neither list.

    Raises:
        ConfigError: ``split`` is not 1, 2 or 3.
        DatasetLayoutError: the folder is missing, a class lacks its file for this split, a line is not
            ``"<video>.avi <flag>"`` with flag 0, 1 or 2, or a video is listed twice.
    """
    _check_split_number(split)
    annotation_dir = Path(annotation_dir)
    classes = hmdb51_classes(annotation_dir)
    train: SplitEntries = []
    test: SplitEntries = []
    for label, name in enumerate(classes):
        path = annotation_dir / f"{name}_test_split{split}.txt"
        seen: set[str] = set()
        for number, line in _read_lines(
            path, f"HMDB-51's split file for class {name!r} with lines '<video>.avi <flag 0/1/2>'"
        ):
            fields = line.rsplit(maxsplit=1)
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise DatasetLayoutError(f"{path} line {number}: expected '<video>.avi <flag 0/1/2>', got {line!r}")
            video, flag = fields
            if "/" in video or "\\" in video:
                raise DatasetLayoutError(f"{path} line {number}: expected a bare file name, got {video!r}")
            if video in seen:
                raise DatasetLayoutError(f"{path} line {number}: {video!r} is listed twice")
            seen.add(video)
            if flag == "1":
                train.append((f"{name}/{video}", label))
            elif flag == "2":
                test.append((f"{name}/{video}", label))
    return classes, train, test
