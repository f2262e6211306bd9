"""The Hollywood2 actions layout: a multi-label dataset of 12 actions in movie clips.

On disk: ``ROOT/AVIClips/actioncliptrain00001.avi`` … and ``ROOT/ClipSets/<Action>_train.txt`` and
``<Action>_test.txt``, one per action and set, each line ``"<clip> 1"`` (the clip shows the action) or
``"<clip> -1"``. The videos may also sit directly in ROOT when there is no ``AVIClips`` folder, and
``--annotations`` may point at the ClipSets folder elsewhere. The ``<Action>_autotrain.txt`` lists (the
automatically annotated, noisy training set) and the scene lists are not read.

A clip's labels are the actions whose list marks it 1; a clip may show several actions or none (it is kept,
with no labels). Every list of a set must name the same clips. Official split 1 is the clean train/test
split of the authors (823 / 884 clips); ``abdn`` is a seeded random 70/30 split over both sets' clips.
"""

from __future__ import annotations

from pathlib import Path

from core.data.dataset import (
    Dataset,
    LayoutRequest,
    VideoItem,
    abdn_split,
    register_layout,
)
from core.data.layouts import _examples, _is_video
from core.data.splits import _read_lines
from core.errors import DatasetLayoutError

HOLLYWOOD2_ACTIONS: tuple[str, ...] = (
    "AnswerPhone", "DriveCar", "Eat", "FightPerson", "GetOutCar", "HandShake", "HugPerson", "Kiss", "Run",
    "SitDown", "SitUp", "StandUp",
)
HOLLYWOOD2_ANNOTATIONS = "ClipSets"
HOLLYWOOD2_VIDEOS = "AVIClips"
HOLLYWOOD2_SETS = ("train", "test")

# (clip name, sorted action indices) in the order of the first action's list.
ClipLabels = list[tuple[str, tuple[int, ...]]]


def _read_clip_list(path: Path, action: str) -> dict[str, bool]:
    """Return ``{clip: shows the action}`` of one ``<Action>_<set>.txt`` list, in file order.

    Raises:
        DatasetLayoutError: the file is missing or unreadable, a line is not ``"<clip> 1"`` or
            ``"<clip> -1"``, or a clip is listed twice.
    """
    marks: dict[str, bool] = {}
    for number, line in _read_lines(path, f"Hollywood2's list of {action} clips with lines '<clip> 1' or '<clip> -1'"):
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("1", "-1"):
            raise DatasetLayoutError(f"{path} line {number}: expected '<clip> 1' or '<clip> -1', got {line!r}")
        clip = fields[0]
        if clip in marks:
            raise DatasetLayoutError(f"{path} line {number}: clip {clip!r} is listed twice")
        marks[clip] = fields[1] == "1"
    return marks


def parse_hollywood2_set(annotation_dir: str | Path, part: str) -> ClipLabels:
    """Return ``[(clip, action indices)]`` of the ``train`` or ``test`` set of a Hollywood2 ClipSets folder.

    Clips come in the order of ``AnswerPhone_<part>.txt``; indices follow :data:`HOLLYWOOD2_ACTIONS`.

    Raises:
        DatasetLayoutError: the folder or a list is missing, a line is malformed, or the 12 lists of the
            set do not name the same clips.
    """
    annotation_dir = Path(annotation_dir)
    if not annotation_dir.is_dir():
        raise DatasetLayoutError(
            f"annotation folder {annotation_dir} does not exist; expected Hollywood2's {HOLLYWOOD2_ANNOTATIONS} "
            "folder with <Action>_train.txt and <Action>_test.txt",
            hint="pass --annotations FOLDER to point at the ClipSets folder",
        )
    lists = {
        action: (annotation_dir / f"{action}_{part}.txt",
                 _read_clip_list(annotation_dir / f"{action}_{part}.txt", action))
        for action in HOLLYWOOD2_ACTIONS
    }
    reference_path, reference = lists[HOLLYWOOD2_ACTIONS[0]]
    if not reference:
        raise DatasetLayoutError(f"{reference_path} lists no clips; expected lines '<clip> 1' or '<clip> -1'")
    for action in HOLLYWOOD2_ACTIONS[1:]:
        path, marks = lists[action]
        lacking = [clip for clip in reference if clip not in marks]
        if lacking:
            raise DatasetLayoutError(
                f"{path} does not list clip {lacking[0]!r}, which {reference_path.name} lists "
                f"({len(lacking)} such clips)",
                hint=f"every clip of the {part} set must appear in all 12 <Action>_{part}.txt lists",
            )
        extra = [clip for clip in marks if clip not in reference]
        if extra:
            raise DatasetLayoutError(
                f"{path} lists clip {extra[0]!r}, which {reference_path.name} does not ({len(extra)} such clips)",
                hint=f"every clip of the {part} set must appear in all 12 <Action>_{part}.txt lists",
            )
    return [
        (clip, tuple(index for index, action in enumerate(HOLLYWOOD2_ACTIONS) if lists[action][1][clip]))
        for clip in reference
    ]


def _video_folder(root: Path) -> Path:
    folder = root / HOLLYWOOD2_VIDEOS
    return folder if folder.is_dir() else root


def _videos_by_clip(folder: Path) -> dict[str, Path]:
    """Return ``{clip name: video file}`` of the videos directly in ``folder``.

    Raises:
        DatasetLayoutError: two videos share a clip name (e.g. ``x.avi`` and ``x.mp4``).
    """
    videos: dict[str, Path] = {}
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not _is_video(entry):
            continue
        if entry.stem in videos:
            raise DatasetLayoutError(
                f"{videos[entry.stem].name} and {entry.name} in {folder} are both clip {entry.stem!r}",
                hint="keep one video per clip",
            )
        videos[entry.stem] = entry
    return videos


def _items(clips: ClipLabels, videos: dict[str, Path], folder: Path, list_name: str) -> list[VideoItem]:
    """Return the listed clips as multi-label items.

    Raises:
        DatasetLayoutError: some listed clips have no video in ``folder``; the message gives the count and
            a few of them.
    """
    missing = [clip for clip, _ in clips if clip not in videos]
    if missing:
        raise DatasetLayoutError(
            f"{len(missing)} of {len(clips)} clips listed in {list_name} are missing under {folder} "
            f"(e.g. {_examples(missing)})",
            hint=f"check that the dataset folder is the one holding {HOLLYWOOD2_VIDEOS} and that it is complete",
        )
    return [VideoItem.multilabelled(videos[clip], labels) for clip, labels in clips]


@register_layout("hollywood2", official_splits=(1,))
def load_hollywood2(request: LayoutRequest) -> Dataset:
    """Return the multi-label Hollywood2 dataset with its official (1) or the ABDN split; see the module docstring.

    Annotations default to ``ROOT/ClipSets``; videos are read from ``ROOT/AVIClips``, or ROOT itself when
    there is no such folder.

    Raises:
        DatasetLayoutError: the ClipSets folder or a list is missing or malformed, the lists of a set
            disagree, a clip is in both sets, or listed clips are missing on disk.
    """
    annotation_dir = request.annotations if request.annotations is not None else request.root / HOLLYWOOD2_ANNOTATIONS
    train_clips = parse_hollywood2_set(annotation_dir, "train")
    test_clips = parse_hollywood2_set(annotation_dir, "test")
    both = sorted({clip for clip, _ in train_clips} & {clip for clip, _ in test_clips})
    if both:
        raise DatasetLayoutError(
            f"{len(both)} clips are listed in both the train and the test lists of {annotation_dir} "
            f"(e.g. {_examples(both)})",
        )
    folder = _video_folder(request.root)
    videos = _videos_by_clip(folder)
    train = _items(train_clips, videos, folder, "the <Action>_train.txt lists")
    test = _items(test_clips, videos, folder, "the <Action>_test.txt lists")
    if request.official_split is None:
        train, test = abdn_split(train + test, seed=request.seed, test_size=request.test_size)
        split = request.abdn_record()
    else:
        split = {"protocol": "official", "split": request.official_split}
    return Dataset(
        name="Hollywood2", root=request.root, layout="hollywood2", classes=list(HOLLYWOOD2_ACTIONS),
        train=train, test=test, split=split, multilabel=True,
    )
