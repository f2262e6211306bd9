"""The UCF-11 layout (leave-one-group-out splits) and the multi-label Hollywood2 layout, on built trees."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from core.data import VideoItem, abdn_split, load_dataset
from core.data.hollywood2 import HOLLYWOOD2_ACTIONS
from core.data.ucf11 import UCF11_CLASSES, clip_group
from core.errors import ConfigError, DatasetLayoutError

# The clip-name stem of each class in the real archive ("walking" clips are v_walk_dog_GG_CC).
UCF11_STEMS = {
    "basketball": "shooting", "biking": "biking", "diving": "diving", "golf_swing": "golf",
    "horse_riding": "riding", "soccer_juggling": "juggle", "swing": "swing", "tennis_swing": "tennis",
    "trampoline_jumping": "jumping", "volleyball_spiking": "spiking", "walking": "walk_dog",
}


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def build_ucf11(root: Path, groups: int = 3, clips: int = 2) -> Path:
    for name in UCF11_CLASSES:
        stem = UCF11_STEMS[name]
        for group in range(1, groups + 1):
            for clip in range(1, clips + 1):
                touch(root / name / f"v_{stem}_{group:02d}" / f"v_{stem}_{group:02d}_{clip:02d}.avi")
    return root


# --- UCF-11 --------------------------------------------------------------------------------------------


def test_clip_group_is_the_number_before_the_last_underscore() -> None:
    assert clip_group(Path("v_shooting_01_03.avi")) == 1
    assert clip_group(Path("v_walk_dog_25_04.mpg")) == 25
    assert clip_group(Path("v_shooting.avi")) is None
    assert clip_group(Path("v_shooting_ab_03.avi")) is None


def test_ucf11_abdn_split(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    touch(root / "biking" / "Annotation" / "v_biking_01_01.avi")  # ignored, as the real xgtf folder is
    touch(root / "biking" / "Annotation" / "v_biking_01_01.xgtf")
    touch(root / "Annotation" / "v_x_01_01.avi")
    touch(root / "diving" / "v_diving_01" / ".v_diving_01_09.avi")
    dataset = load_dataset(root, layout="ucf11", seed=5)
    assert dataset.name == "UCF-11" and dataset.layout == "ucf11" and not dataset.multilabel
    assert dataset.classes == list(UCF11_CLASSES)
    assert (len(dataset.train), len(dataset.test)) == (46, 20)  # 66 clips, ceil(0.3 × 66) = 20
    assert dataset.split == {"protocol": "abdn", "seed": 5, "test_size": 0.3}
    assert dataset.summary() == "UCF-11: 11 classes, 46 train / 20 test videos (abdn split, seed 5)"
    assert not any("Annotation" in item.path.parts or item.path.name.startswith(".") for item in dataset.items())
    for item in dataset.items():
        assert item.labels == ()
        assert item.path.relative_to(root).parts[0] == UCF11_CLASSES[item.label]
    again = load_dataset(root, layout="ucf11", seed=5)
    assert again.train == dataset.train and again.test == dataset.test


def test_ucf11_leave_one_group_out(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    dataset = load_dataset(root, layout="ucf11", split="2")
    assert (len(dataset.train), len(dataset.test)) == (44, 22)
    assert {clip_group(item.path) for item in dataset.test} == {2}
    assert {clip_group(item.path) for item in dataset.train} == {1, 3}
    for label in range(11):  # every class gives exactly its group-2 clips to the test set
        assert sorted(item.path.name for item in dataset.test if item.label == label) == [
            f"v_{UCF11_STEMS[UCF11_CLASSES[label]]}_02_{clip:02d}.avi" for clip in (1, 2)
        ]
    assert dataset.split == {"protocol": "official", "split": 2, "scheme": "leave-one-group-out", "test_group": 2}
    assert json.loads(json.dumps(dataset.split)) == dataset.split
    assert dataset.summary() == (
        "UCF-11: 11 classes, 44 train / 22 test videos "
        "(official split 2, leave-one-group-out: group 2 is the test set)"
    )


def test_ucf11_split_numbers(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    with pytest.raises(ConfigError, match=r"unknown split '26' for layout 'ucf11'; valid splits: abdn, 1-25$"):
        load_dataset(root, layout="ucf11", split="26")
    with pytest.raises(ConfigError, match="unknown split '0'"):
        load_dataset(root, layout="ucf11", split="0")
    # Split 25 is valid, but this tree has only groups 1-3: an empty test set is refused.
    with pytest.raises(DatasetLayoutError, match="official split 25 would leave the test set empty"):
        load_dataset(root, layout="ucf11", split="25")
    with pytest.raises(ConfigError, match="reads no annotation files"):
        load_dataset(root, layout="ucf11", annotations=tmp_path)


def test_ucf11_class_folders_match_without_case(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    (root / "basketball").rename(root / "Basketball")
    dataset = load_dataset(root, layout="ucf11", split="1")
    assert dataset.classes[0] == "basketball"
    assert {item.path.relative_to(root).parts[0] for item in dataset.items() if item.label == 0} == {"Basketball"}
    shutil.copytree(root / "Basketball", root / "BASKETBALL")
    with pytest.raises(DatasetLayoutError, match="are both UCF-11 class 'basketball'"):
        load_dataset(root, layout="ucf11")


def test_ucf11_unknown_video_folder_is_an_error(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    (root / "notes").mkdir()  # a folder without videos is no concern
    touch(root / "notes" / "readme.txt")
    load_dataset(root, layout="ucf11")
    touch(root / "skating" / "v_skating_01" / "v_skating_01_01.avi")
    with pytest.raises(DatasetLayoutError, match=r"^1 folders under .* are not UCF-11 classes \(e\.g\. skating\)"):
        load_dataset(root, layout="ucf11")


def test_ucf11_missing_or_empty_class_is_an_error(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    shutil.rmtree(root / "swing")
    with pytest.raises(DatasetLayoutError, match=r"1 of 11 UCF-11 class folders are missing .*\(e\.g\. swing\)"):
        load_dataset(root, layout="ucf11")
    (root / "swing" / "v_swing_01").mkdir(parents=True)
    touch(root / "swing" / "Annotation" / "v_swing_01_01.avi")
    with pytest.raises(DatasetLayoutError, match=re.escape(f"class folder {root / 'swing'} holds no videos")):
        load_dataset(root, layout="ucf11")


def test_ucf11_clip_without_group_fails_only_the_official_splits(tmp_path: Path) -> None:
    root = build_ucf11(tmp_path / "UCF11")
    touch(root / "diving" / "v_diving_01" / "v_diving_extra.avi")
    assert len(load_dataset(root, layout="ucf11").items()) == 67
    with pytest.raises(DatasetLayoutError, match=r"1 clips under .* have no group number .*v_diving_extra\.avi"):
        load_dataset(root, layout="ucf11", split="1")
    (root / "diving" / "v_diving_01" / "v_diving_extra.avi").rename(root / "diving" / "v_diving_31_01.avi")
    with pytest.raises(DatasetLayoutError, match=r"group number outside 01-25 .*v_diving_31_01\.avi"):
        load_dataset(root, layout="ucf11", split="1")


# --- Hollywood2 ----------------------------------------------------------------------------------------

# clip → its positive actions; every other action lists it as -1.
H2_TRAIN = {
    "actioncliptrain00001": (),
    "actioncliptrain00002": ("Kiss",),
    "actioncliptrain00003": ("HugPerson", "Kiss"),
    "actioncliptrain00004": ("Run",),
    "actioncliptrain00005": ("AnswerPhone",),
}
H2_TEST = {
    "actioncliptest00001": ("SitDown", "StandUp"),
    "actioncliptest00002": (),
    "actioncliptest00003": ("Eat",),
}


def write_clip_sets(folder: Path, part: str, clips: dict[str, tuple[str, ...]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for action in HOLLYWOOD2_ACTIONS:
        lines = [f"{clip}  {1 if action in positives else -1}" for clip, positives in clips.items()]
        (folder / f"{action}_{part}.txt").write_text("\n".join(lines) + "\n")


def build_hollywood2(root: Path) -> Path:
    write_clip_sets(root / "ClipSets", "train", H2_TRAIN)
    write_clip_sets(root / "ClipSets", "test", H2_TEST)
    (root / "ClipSets" / "Kiss_autotrain.txt").write_text("not a clip list\n")  # never read
    for clip in [*H2_TRAIN, *H2_TEST]:
        touch(root / "AVIClips" / f"{clip}.avi")
    touch(root / "AVIClips" / "actioncliptrain00999.avi")  # on disk but listed nowhere: not used
    return root


def expected_labels(positives: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted(HOLLYWOOD2_ACTIONS.index(action) for action in positives))


def test_videoitem_multilabelled() -> None:
    assert VideoItem.multilabelled(Path("a.avi"), [7, 2, 7]) == VideoItem(Path("a.avi"), 2, (2, 7))
    assert VideoItem.multilabelled(Path("b.avi"), []) == VideoItem(Path("b.avi"), -1, ())
    assert VideoItem(Path("c.avi"), 3).labels == ()


def test_abdn_split_orders_items_without_labels_first() -> None:
    items = [VideoItem.multilabelled(Path(f"v{i}.avi"), [i % 3] if i % 4 else []) for i in range(20)]
    train, test = abdn_split(items, seed=1)
    assert (len(train), len(test)) == (14, 6)
    assert set(train) | set(test) == set(items)
    assert abdn_split(list(reversed(items)), seed=1) == (train, test)
    assert train == sorted(train, key=lambda item: (item.label, item.path.as_posix()))
    assert train[0].label == -1


def test_hollywood2_official_split(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    dataset = load_dataset(root, layout="hollywood2", split="1")
    assert dataset.name == "Hollywood2" and dataset.layout == "hollywood2"
    assert dataset.multilabel is True
    assert dataset.classes == list(HOLLYWOOD2_ACTIONS) and dataset.classes[7] == "Kiss"
    assert dataset.split == {"protocol": "official", "split": 1}
    assert [item.path for item in dataset.train] == [root / "AVIClips" / f"{clip}.avi" for clip in H2_TRAIN]
    assert [item.path for item in dataset.test] == [root / "AVIClips" / f"{clip}.avi" for clip in H2_TEST]
    for item, positives in zip(dataset.items(), [*H2_TRAIN.values(), *H2_TEST.values()]):
        assert item.labels == expected_labels(positives)
        assert item.label == (item.labels[0] if item.labels else -1)
    assert dataset.train[2].labels == (6, 7)  # HugPerson, Kiss
    assert dataset.test[1].labels == () and dataset.test[1].label == -1
    assert dataset.summary() == "Hollywood2: 12 classes (multi-label), 5 train / 3 test videos (official split 1)"
    with pytest.raises(ConfigError, match="unknown split '2' for layout 'hollywood2'; valid splits: abdn, 1$"):
        load_dataset(root, layout="hollywood2", split="2")


def test_hollywood2_abdn_split(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    dataset = load_dataset(root, layout="hollywood2", seed=4)
    assert dataset.multilabel and dataset.split == {"protocol": "abdn", "seed": 4, "test_size": 0.3}
    assert (len(dataset.train), len(dataset.test)) == (5, 3)  # 8 listed clips, ceil(0.3 × 8) = 3
    official = load_dataset(root, layout="hollywood2", split="1")
    assert sorted(dataset.items(), key=lambda i: i.path) == sorted(official.items(), key=lambda i: i.path)
    assert load_dataset(root, layout="hollywood2", seed=4).test == dataset.test
    assert "(multi-label)" in dataset.summary() and "(abdn split, seed 4)" in dataset.summary()


def test_hollywood2_annotations_elsewhere_and_videos_in_root(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    expected = load_dataset(root, layout="hollywood2", split="1")
    shutil.move(root / "ClipSets", tmp_path / "lists")
    with pytest.raises(DatasetLayoutError, match="ClipSets.* does not exist") as caught:
        load_dataset(root, layout="hollywood2", split="1")
    assert caught.value.hint and "--annotations" in caught.value.hint
    moved = load_dataset(root, layout="hollywood2", split="1", annotations=tmp_path / "lists")
    assert moved.train == expected.train and moved.test == expected.test

    flat = tmp_path / "flat"
    shutil.move(root / "AVIClips", flat)
    in_root = load_dataset(flat, layout="hollywood2", split="1", annotations=tmp_path / "lists")
    assert [item.path.name for item in in_root.items()] == [item.path.name for item in expected.items()]
    assert [item.labels for item in in_root.items()] == [item.labels for item in expected.items()]
    assert all(item.path.parent == flat for item in in_root.items())


def test_hollywood2_missing_clip_on_disk(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    (root / "AVIClips" / "actioncliptest00002.avi").unlink()
    with pytest.raises(DatasetLayoutError, match=(
        r"^1 of 3 clips listed in the <Action>_test\.txt lists are missing under .*AVIClips "
        r"\(e\.g\. actioncliptest00002\)$"
    )):
        load_dataset(root, layout="hollywood2", split="1")
    with pytest.raises(DatasetLayoutError, match="actioncliptest00002"):
        load_dataset(root, layout="hollywood2")


def test_hollywood2_inconsistent_lists(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    run = root / "ClipSets" / "Run_train.txt"
    lines = run.read_text().splitlines()
    run.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # drops actioncliptrain00003
    with pytest.raises(DatasetLayoutError, match=r"Run_train\.txt does not list clip 'actioncliptrain00003'") as caught:
        load_dataset(root, layout="hollywood2", split="1")
    assert "all 12" in (caught.value.hint or "")
    run.write_text("\n".join([*lines, "actioncliptrain00042  -1"]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"Run_train\.txt lists clip 'actioncliptrain00042'"):
        load_dataset(root, layout="hollywood2", split="1")
    run.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"Run_train\.txt line 6: clip 'actioncliptrain00001' is listed twice"):
        load_dataset(root, layout="hollywood2", split="1")
    run.write_text("\n".join([*lines[:-1], "actioncliptrain00005  0"]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"Run_train\.txt line 5: expected '<clip> 1' or '<clip> -1'"):
        load_dataset(root, layout="hollywood2", split="1")
    run.unlink()
    with pytest.raises(DatasetLayoutError, match=r"Run_train\.txt does not exist"):
        load_dataset(root, layout="hollywood2", split="1")


def test_hollywood2_clip_in_both_sets(tmp_path: Path) -> None:
    root = tmp_path / "Hollywood2"
    write_clip_sets(root / "ClipSets", "train", H2_TRAIN)
    write_clip_sets(root / "ClipSets", "test", {**H2_TEST, "actioncliptrain00001": ()})
    for clip in [*H2_TRAIN, *H2_TEST]:
        touch(root / "AVIClips" / f"{clip}.avi")
    with pytest.raises(DatasetLayoutError, match="1 clips are listed in both the train and the test lists"):
        load_dataset(root, layout="hollywood2", split="1")


def test_hollywood2_accepts_crlf_and_a_byte_order_mark(tmp_path: Path) -> None:
    root = build_hollywood2(tmp_path / "Hollywood2")
    for path in (root / "ClipSets").glob("*_test.txt"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    dataset = load_dataset(root, layout="hollywood2", split="1")
    assert [item.labels for item in dataset.test] == [expected_labels(p) for p in H2_TEST.values()]
