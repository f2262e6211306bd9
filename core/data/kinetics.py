"""The Kinetics layout (400, 600, 700): the ActivityNet crawler's CSVs and the clips on disk.

Annotations (``--annotations``, default ROOT) hold ``*_train.csv`` and ``*_val.csv`` with the columns
``label,youtube_id,time_start,time_end,split[,is_cc]`` (labels may be quoted). Clips may sit anywhere
under ROOT, named by their YouTube id (``<id>.mp4`` or the crawler's ``<id>_<start>_<end>.mp4``).
Split 1 is the official one (train CSV → train, val CSV → test); ``abdn`` splits every listed clip
that is on disk at random. Kinetics clips vanish from YouTube, so listed clips missing on disk are
left out and counted in the split record and the summary, never silently.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.data.dataset import (
    VIDEO_EXTENSIONS,
    Dataset,
    LayoutRequest,
    VideoItem,
    abdn_split,
    register_layout,
)
from core.errors import DatasetLayoutError

YOUTUBE_ID_LENGTH = 11


def parse_kinetics_csv(path: Path) -> list[tuple[str, str]]:
    """(label, youtube id) rows of a Kinetics CSV; raises ``DatasetLayoutError`` when the file is
    missing or has no ``label``/``youtube_id`` columns (a test CSV has no labels)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if "label" not in columns or "youtube_id" not in columns:
                raise DatasetLayoutError(
                    f"{path} has no label and youtube_id columns (found {', '.join(columns)})",
                    hint="a Kinetics test CSV has no labels; use the train and val CSVs")
            return [(row["label"].strip(), row["youtube_id"].strip()) for row in reader]
    except OSError as exc:
        raise DatasetLayoutError(f"cannot read {path}: {exc.strerror}") from exc


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise DatasetLayoutError(
            f"expected one {pattern} file in {folder}, found {len(found)}",
            hint="pass --annotations pointing at the folder of kinetics-<N>_train.csv and _val.csv")
    return found[0]


def _clips_on_disk(root: Path) -> dict[str, Path]:
    clips: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            clips.setdefault(path.stem[:YOUTUBE_ID_LENGTH], path)
    return clips


@register_layout("kinetics", official_splits=(1,))
def load_kinetics(request: LayoutRequest) -> Dataset:
    """Kinetics from its CSVs; see the module docstring. Raises ``DatasetLayoutError`` for
    missing or malformed CSVs, or when none of the listed clips is on disk."""
    folder = request.annotations or request.root
    train_rows = parse_kinetics_csv(_one(folder, "*_train.csv"))
    val_rows = parse_kinetics_csv(_one(folder, "*_val.csv"))
    classes = sorted({label for label, _ in train_rows + val_rows})
    index = {name: i for i, name in enumerate(classes)}
    clips = _clips_on_disk(request.root)
    missing: list[str] = []

    def items(rows: list[tuple[str, str]]) -> list[VideoItem]:
        found = []
        for label, youtube_id in rows:
            if youtube_id in clips:
                found.append(VideoItem(path=clips[youtube_id], label=index[label]))
            else:
                missing.append(youtube_id)
        return found

    train, test = items(train_rows), items(val_rows)
    if not train and not test:
        raise DatasetLayoutError(
            f"none of the {len(train_rows) + len(val_rows)} listed Kinetics clips is under "
            f"{request.root}", hint="clips are found by their YouTube id at the start of the name")
    name = folder.name if folder != request.root else "Kinetics"
    if request.official_split is None:
        train, test = abdn_split(train + test, seed=request.seed, test_size=request.test_size)
        split = request.abdn_record()
    else:
        split = {"protocol": "official", "split": 1}
    split["missing"] = len(missing)
    split["missing_examples"] = missing[:3]
    return Dataset(name=name, root=request.root, layout="kinetics", classes=classes, train=train,
                   test=test, split=split)
