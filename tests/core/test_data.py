"""Tests of core.data: official split parsers on the real annotation files, layouts on built trees, abdn_split."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from core.data import (
    VIDEO_EXTENSIONS,
    Dataset,
    VideoItem,
    abdn_split,
    layout_names,
    load_dataset,
    parse_hmdb51_split,
    parse_ucf101_class_index,
    parse_ucf101_split,
    register_layout,
)
from core.errors import ConfigError, DatasetLayoutError

UCF_SPLIT_SIZES = [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)]
UCF_TOTAL = 13320
HMDB_TOTAL_LINES_PER_SPLIT = 6766


@pytest.fixture(scope="session")
def ucf_annotations(shared_data: Path) -> Path:
    return shared_data / "annotations" / "ucf101"


@pytest.fixture(scope="session")
def hmdb_annotations(shared_data: Path) -> Path:
    return shared_data / "annotations" / "hmdb51" / "testTrainMulti_7030_splits"


def touch(path: Path) -> Path:
    """Create an empty placeholder file (no decoding happens in core.data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def build_class_tree(root: Path, counts: dict[str, int], suffix: str = ".mp4") -> Path:
    for name, count in counts.items():
        for index in range(count):
            touch(root / name / f"{name}_{index:03d}{suffix}")
    return root


def ucf_group(relative: str) -> str:
    match = re.search(r"_g(\d\d)_c\d\d\.avi$", relative)
    assert match, relative
    return match.group(1)


# --- UCF-101, real files -------------------------------------------------------------------------------


def test_ucf101_class_index_real(ucf_annotations: Path) -> None:
    classes = parse_ucf101_class_index(ucf_annotations / "classInd.txt")
    assert len(classes) == 101
    assert classes[0] == "ApplyEyeMakeup"
    assert classes[83] == "SoccerJuggling"  # SOURCES.md: UCF index 84, 1-based
    assert classes[100] == "YoYo"
    assert all(name == name.strip() and "\r" not in name for name in classes)


@pytest.mark.parametrize(("split", "n_train", "n_test"), UCF_SPLIT_SIZES)
def test_ucf101_split_real(ucf_annotations: Path, split: int, n_train: int, n_test: int) -> None:
    classes, train, test = parse_ucf101_split(ucf_annotations, split)
    assert classes == parse_ucf101_class_index(ucf_annotations / "classInd.txt")
    assert (len(train), len(test)) == (n_train, n_test)
    index_of = {name: label for label, name in enumerate(classes)}
    for relative, label in [*train, *test]:
        assert "\r" not in relative and relative == relative.strip()
        folder, file_name = relative.split("/")
        assert label == index_of[folder]
        assert file_name.endswith(".avi")
    train_paths = {relative for relative, _ in train}
    test_paths = {relative for relative, _ in test}
    assert len(train_paths) == n_train and len(test_paths) == n_test
    assert train_paths.isdisjoint(test_paths)
    assert len(train_paths | test_paths) == UCF_TOTAL
    # The official splits hold out whole groups, so no group may sit on both sides.
    assert {ucf_group(p) for p in train_paths}.isdisjoint({ucf_group(p) for p in test_paths})


def test_ucf101_split_1_known_entries(ucf_annotations: Path) -> None:
    _, train, test = parse_ucf101_split(ucf_annotations, 1)
    assert train[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)
    assert test[0] == ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0)
    assert train[-1] == ("YoYo/v_YoYo_g25_c05.avi", 100)
    assert ("SoccerJuggling/v_SoccerJuggling_g23_c01.avi", 83) in train
    assert {ucf_group(p) for p, _ in test} == {f"{g:02d}" for g in range(1, 8)}


def test_ucf101_parse_rejects_bad_split_number(ucf_annotations: Path) -> None:
    with pytest.raises(ConfigError, match="1, 2, 3"):
        parse_ucf101_split(ucf_annotations, 4)


# --- HMDB-51, real files -------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_split_real(hmdb_annotations: Path, shared_data: Path, split: int) -> None:
    classes, train, test = parse_hmdb51_split(hmdb_annotations, split)
    label_map = (shared_data / "annotations" / "hmdb51" / "label_map.txt").read_text().split()
    assert classes == sorted(classes) == label_map
    # TSN's class_list.txt follows the file names' order instead ("kick_ball_…" < "kick_test…").
    assert classes.index("kick") < classes.index("kick_ball")
    assert classes.index("sword") < classes.index("sword_exercise")
    assert len(classes) == 51 and classes[0] == "brush_hair" and classes[-1] == "wave"
    assert (len(train), len(test)) == (3570, 1530)
    assert Counter(label for _, label in train) == {label: 70 for label in range(51)}
    assert Counter(label for _, label in test) == {label: 30 for label in range(51)}
    for relative, label in [*train, *test]:
        assert relative == relative.strip() and " " not in relative
        folder, file_name = relative.split("/")
        assert folder == classes[label] and file_name.endswith(".avi")
    assert {p for p, _ in train}.isdisjoint({p for p, _ in test})


def test_hmdb51_flags_real(hmdb_annotations: Path) -> None:
    # SOURCES.md gives these clips' flags: RATRACE s1=1 s2=2, TrumanShow s1=2 s2=1, SchoolRules s1=0 s2=0.
    ratrace = "wave/RATRACE_wave_f_nm_np1_fr_goo_37.avi"
    truman = "wave/TrumanShow_wave_f_nm_np1_fr_med_26.avi"
    school = "wave/SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi"
    wave = 50
    _, train1, test1 = parse_hmdb51_split(hmdb_annotations, 1)
    assert (ratrace, wave) in train1 and (truman, wave) in test1
    assert school not in {p for p, _ in [*train1, *test1]}
    _, train2, test2 = parse_hmdb51_split(hmdb_annotations, 2)
    assert (ratrace, wave) in test2 and (truman, wave) in train2
    # Flag-0 lines are the difference between the 6766 listed videos and the 5100 used.
    listed = sum(
        len(path.read_text().split("\n")) - 1 for path in hmdb_annotations.glob("*_test_split1.txt")
    )
    assert listed == HMDB_TOTAL_LINES_PER_SPLIT
    assert len(train1) + len(test1) == 5100


# --- text quirks ---------------------------------------------------------------------------------------


def test_parsers_accept_bom_crlf_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    annotations = tmp_path / "ucf"
    annotations.mkdir()
    (annotations / "classInd.txt").write_bytes(b"\xef\xbb\xbf1 Alpha\r\n\r\n2 Beta \r\n")
    (annotations / "trainlist01.txt").write_bytes(
        b"\xef\xbb\xbfAlpha/v_Alpha_g08_c01.avi 1\r\n  \r\nBeta/v_Beta_g09_c01.avi 2"
    )
    (annotations / "testlist01.txt").write_bytes(b"Beta/v_Beta_g01_c01.avi \r\n\r\n")
    classes, train, test = parse_ucf101_split(annotations, 1)
    assert classes == ["Alpha", "Beta"]
    assert train == [("Alpha/v_Alpha_g08_c01.avi", 0), ("Beta/v_Beta_g09_c01.avi", 1)]
    assert test == [("Beta/v_Beta_g01_c01.avi", 1)]

    hmdb = tmp_path / "hmdb"
    hmdb.mkdir()
    (hmdb / "jump_test_split1.txt").write_bytes(b"\xef\xbb\xbfa.avi 1 \r\nb.avi 2 \n\nc.avi 0 ")
    (hmdb / "clap_test_split1.txt").write_bytes(b"d.avi 2 \n")
    classes, train, test = parse_hmdb51_split(hmdb, 1)
    assert classes == ["clap", "jump"]
    assert train == [("jump/a.avi", 1)]
    assert test == [("clap/d.avi", 0), ("jump/b.avi", 1)]


def test_ucf101_label_mismatch_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "classInd.txt").write_text("1 Alpha\n2 Beta\n")
    (tmp_path / "trainlist01.txt").write_text("Alpha/v_Alpha_g08_c01.avi 1\nBeta/v_Beta_g08_c01.avi 1\n")
    (tmp_path / "testlist01.txt").write_text("Alpha/v_Alpha_g01_c01.avi\n")
    with pytest.raises(DatasetLayoutError, match=r"trainlist01\.txt line 2: label 1 .* index 2"):
        parse_ucf101_split(tmp_path, 1)


def test_ucf101_unknown_test_class_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "classInd.txt").write_text("1 Alpha\n")
    (tmp_path / "trainlist01.txt").write_text("Alpha/v_Alpha_g08_c01.avi 1\n")
    (tmp_path / "testlist01.txt").write_text("Alpha/v_Alpha_g01_c01.avi\nGamma/v_Gamma_g01_c01.avi\n")
    with pytest.raises(DatasetLayoutError, match=r"testlist01\.txt line 2: class 'Gamma'"):
        parse_ucf101_split(tmp_path, 1)


def test_hmdb51_bad_flag_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "jump_test_split1.txt").write_text("a.avi 1 \nb.avi 3 \n")
    with pytest.raises(DatasetLayoutError, match=r"jump_test_split1\.txt line 2"):
        parse_hmdb51_split(tmp_path, 1)


# --- "folders" layout ----------------------------------------------------------------------------------


def test_folders_layout(tmp_path: Path) -> None:
    root = build_class_tree(tmp_path / "mydata", {f"class_{c}": 15 for c in "hgfedcba"})
    touch(root / "class_a" / ".hidden.mp4")
    touch(root / "class_a" / "notes.txt")
    touch(root / ".cache" / "x.mp4")
    touch(root / "class_b" / "UPPER.AVI")
    dataset = load_dataset(str(root))
    assert dataset.name == "mydata" and dataset.layout == "folders"
    assert dataset.root == root.resolve()
    assert dataset.classes == [f"class_{c}" for c in "abcdefgh"]
    assert (len(dataset.train), len(dataset.test)) == (84, 37)  # 121 videos: ceil(0.3 * 121) = 37
    assert dataset.split == {"protocol": "abdn", "seed": 0, "test_size": 0.3}
    assert json.loads(json.dumps(dataset.split)) == dataset.split
    assert dataset.summary() == "mydata: 8 classes, 84 train / 37 test videos (abdn split, seed 0)"
    paths = [item.path for item in dataset.items()]
    assert dataset.items() == [*dataset.train, *dataset.test]
    assert all(path.is_absolute() and path.is_file() for path in paths)
    assert root / "class_b" / "UPPER.AVI" in paths
    assert not any(path.name in {".hidden.mp4", "notes.txt"} or ".cache" in path.parts for path in paths)
    for item in dataset.items():
        assert dataset.classes[item.label] == item.path.parent.name


def test_folders_layout_summary_of_the_spec_example(tmp_path: Path) -> None:
    root = build_class_tree(tmp_path / "eight", {f"c{c}": 15 for c in range(8)})
    dataset = load_dataset(root, seed=0)
    assert dataset.summary() == "eight: 8 classes, 84 train / 36 test videos (abdn split, seed 0)"
    other = load_dataset(root, seed=1, test_size=0.25)
    assert other.split == {"protocol": "abdn", "seed": 1, "test_size": 0.25}
    assert other.summary() == "eight: 8 classes, 90 train / 30 test videos (abdn split, seed 1, test size 0.25)"


def test_folders_layout_is_deterministic_per_seed(tmp_path: Path) -> None:
    root = build_class_tree(tmp_path / "d", {"a": 20, "b": 20, "c": 20})
    first, again, other = load_dataset(root, seed=3), load_dataset(root, seed=3), load_dataset(root, seed=4)
    assert first.test == again.test and first.train == again.train
    assert {i.path for i in first.test} != {i.path for i in other.test}


# --- "ucf101" layout -----------------------------------------------------------------------------------


UCF_CLASSES_KEPT = ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]


def trimmed_ucf_annotations(source: Path, target: Path, classes: list[str]) -> Path:
    """Copy the real classInd and split lists, keeping only the lines of the given (leading) classes."""
    target.mkdir(parents=True)
    for path in source.glob("*list0?.txt"):
        lines = path.read_bytes().split(b"\r\n")
        kept = [line for line in lines if line.split(b"/")[0].decode() in classes]
        (target / path.name).write_bytes(b"\r\n".join(kept) + b"\r\n")
    index_lines = (source / "classInd.txt").read_bytes().split(b"\r\n")[: len(classes)]
    (target / "classInd.txt").write_bytes(b"\r\n".join(index_lines) + b"\r\n")
    return target


def test_ucf101_missing_listed_videos_are_counted(tmp_path: Path, ucf_annotations: Path) -> None:
    root = tmp_path / "UCF-101"
    shutil.copytree(ucf_annotations, root / "ucfTrainTestlist")
    _, train, _ = parse_ucf101_split(ucf_annotations, 1)
    created = [relative for relative, _ in train if relative.startswith("ApplyEyeMakeup/")]
    for relative in created:
        touch(root / relative)
    assert len(created) == 101
    with pytest.raises(DatasetLayoutError) as caught:
        load_dataset(root, layout="ucf101", split="1")
    message = str(caught.value)
    assert message.startswith(f"{9537 - 101} of 9537 videos listed in trainlist01.txt are missing under {root}")
    assert "(e.g. ApplyLipstick/v_ApplyLipstick_g08_c01.avi, " in message


def test_ucf101_official_split_on_a_trimmed_tree(tmp_path: Path, ucf_annotations: Path) -> None:
    root = tmp_path / "UCF-101"
    trimmed_ucf_annotations(ucf_annotations, root / "ucfTrainTestlist", UCF_CLASSES_KEPT)
    real_lines = {
        name: [
            line.split()[0]
            for line in (ucf_annotations / name).read_text().splitlines()
            if line.split("/")[0] in UCF_CLASSES_KEPT
        ]
        for name in ("trainlist01.txt", "testlist01.txt")
    }
    for relative in [*real_lines["trainlist01.txt"], *real_lines["testlist01.txt"]]:
        touch(root / relative)
    touch(root / "Archery" / "v_Archery_g99_c99.avi")  # on disk but in no list: not part of split 1

    dataset = load_dataset(root, layout="ucf101", split="1")
    assert dataset.name == "UCF-101" and dataset.layout == "ucf101"
    assert dataset.classes == UCF_CLASSES_KEPT
    assert dataset.split == {"protocol": "official", "split": 1}
    assert [item.path for item in dataset.train] == [root / p for p in real_lines["trainlist01.txt"]]
    assert [item.path for item in dataset.test] == [root / p for p in real_lines["testlist01.txt"]]
    assert Counter(item.label for item in dataset.test) == Counter(
        UCF_CLASSES_KEPT.index(p.split("/")[0]) for p in real_lines["testlist01.txt"]
    )
    assert dataset.train[0] == VideoItem(root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)
    assert dataset.summary() == (
        f"UCF-101: 3 classes, {len(real_lines['trainlist01.txt'])} train / "
        f"{len(real_lines['testlist01.txt'])} test videos (official split 1)"
    )

    # The annotation folder can live elsewhere.
    moved = tmp_path / "lists"
    shutil.move(root / "ucfTrainTestlist", moved)
    elsewhere = load_dataset(root, layout="ucf101", split="1", annotations=moved)
    assert elsewhere.train == dataset.train and elsewhere.test == dataset.test
    with pytest.raises(DatasetLayoutError, match="ucfTrainTestlist"):
        load_dataset(root, layout="ucf101", split="1")

    # The ABDN split takes every video on disk in the classInd classes, listed or not.
    abdn = load_dataset(root, layout="ucf101", split="abdn", seed=7, annotations=moved)
    total = len(real_lines["trainlist01.txt"]) + len(real_lines["testlist01.txt"]) + 1
    assert len(abdn.items()) == total
    assert len(abdn.test) == -(-3 * total // 10)
    assert abdn.split == {"protocol": "abdn", "seed": 7, "test_size": 0.3}

    (moved / "testlist02.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"testlist02\.txt does not exist"):
        load_dataset(root, layout="ucf101", split="2", annotations=moved)


def test_ucf101_abdn_refuses_unknown_video_folders(tmp_path: Path, ucf_annotations: Path) -> None:
    root = tmp_path / "UCF-101"
    trimmed_ucf_annotations(ucf_annotations, root / "ucfTrainTestlist", UCF_CLASSES_KEPT)
    for name in UCF_CLASSES_KEPT:
        touch(root / name / f"v_{name}_g01_c01.avi")
    touch(root / "Basketball" / "v_Basketball_g01_c01.avi")
    with pytest.raises(DatasetLayoutError, match="Basketball"):
        load_dataset(root, layout="ucf101")


# --- "hmdb51" layout -----------------------------------------------------------------------------------


HMDB_CLASSES_KEPT = ["brush_hair", "cartwheel", "wave"]


def test_hmdb51_missing_listed_videos_are_counted(tmp_path: Path, hmdb_annotations: Path) -> None:
    root = tmp_path / "hmdb51"
    shutil.copytree(hmdb_annotations, root / "testTrainMulti_7030_splits")
    _, train, test = parse_hmdb51_split(hmdb_annotations, 1)
    for relative, _ in train[:70]:
        touch(root / relative)
    with pytest.raises(DatasetLayoutError) as caught:
        load_dataset(root, layout="hmdb51", split="1")
    assert str(caught.value).startswith("3500 of 3570 videos listed in the *_test_split1.txt files (flag 1, train)")
    for relative, _ in train:
        touch(root / relative)
    with pytest.raises(DatasetLayoutError, match="^1530 of 1530 videos listed .*flag 2, test"):
        load_dataset(root, layout="hmdb51", split="1")


def test_hmdb51_official_and_abdn_split_on_a_trimmed_tree(tmp_path: Path, hmdb_annotations: Path) -> None:
    root = tmp_path / "hmdb51"
    annotations = root / "testTrainMulti_7030_splits"
    annotations.mkdir(parents=True)
    listed = 0
    for name in HMDB_CLASSES_KEPT:
        for split in (1, 2, 3):
            shutil.copy(hmdb_annotations / f"{name}_test_split{split}.txt", annotations)
        for line in (hmdb_annotations / f"{name}_test_split1.txt").read_text().splitlines():
            touch(root / name / line.split()[0])
            listed += 1

    dataset = load_dataset(root, layout="hmdb51", split="1")
    assert dataset.name == "HMDB-51" and dataset.classes == HMDB_CLASSES_KEPT
    assert (len(dataset.train), len(dataset.test)) == (210, 90)
    assert dataset.split == {"protocol": "official", "split": 1}
    paths = {item.path for item in dataset.items()}
    assert root / "wave" / "RATRACE_wave_f_nm_np1_fr_goo_37.avi" in {item.path for item in dataset.train}
    assert root / "wave" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi" in {item.path for item in dataset.test}
    # On disk, but flag 0 in split 1.
    assert (root / "wave" / "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi").is_file()
    assert root / "wave" / "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi" not in paths

    abdn = load_dataset(root, layout="hmdb51", seed=2)
    assert len(abdn.items()) == listed
    assert abdn.split == {"protocol": "abdn", "seed": 2, "test_size": 0.3}

    (annotations / "cartwheel_test_split2.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"cartwheel_test_split2\.txt does not exist"):
        load_dataset(root, layout="hmdb51", split="2")


# --- abdn_split ----------------------------------------------------------------------------------------


def make_items(n: int, n_classes: int = 5) -> list[VideoItem]:
    return [VideoItem(Path(f"c{i % n_classes}") / f"v{i:05d}.mp4", i % n_classes) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "n_train", "n_test"),
    [(100, 70, 30), (10, 7, 3), (7, 4, 3), (3, 2, 1), (13320, 9324, 3996), (18319, 12823, 5496)],
)
def test_abdn_split_sizes_follow_the_ceil_rule(n: int, n_train: int, n_test: int) -> None:
    # 13,320 and 18,319 are UCF-101 and Sports-1M-99: the paper's 9,324/3,996 and 12,823/5,496.
    train, test = abdn_split(make_items(n), seed=0)
    assert (len(train), len(test)) == (n_train, n_test)


def test_abdn_split_is_a_deterministic_partition() -> None:
    items = make_items(50)
    train, test = abdn_split(items, seed=11)
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(items)
    assert train == sorted(train, key=lambda i: (i.label, i.path.as_posix()))
    assert test == sorted(test, key=lambda i: (i.label, i.path.as_posix()))
    assert abdn_split(items, seed=11) == (train, test)
    assert abdn_split(list(reversed(items)), seed=11) == (train, test)  # input order does not matter
    assert abdn_split(items, seed=12)[1] != test


def test_abdn_split_seed_0_is_pinned() -> None:
    # numpy's PCG64 streams are stable across versions; this guards against a change of generator.
    items = [VideoItem(Path(f"c{i % 2}") / f"v{i}.mp4", i % 2) for i in range(10)]
    _, test = abdn_split(items, seed=0)
    assert [item.path.as_posix() for item in test] == ["c0/v4.mp4", "c0/v8.mp4", "c1/v3.mp4"]


@pytest.mark.parametrize("test_size", [0, 1, 1.5, -0.1])
def test_abdn_split_rejects_bad_test_size(test_size: float) -> None:
    with pytest.raises(ConfigError, match="test_size"):
        abdn_split(make_items(10), seed=0, test_size=test_size)


@pytest.mark.parametrize(("n", "test_size"), [(1, 0.3), (10, 0.95)])
def test_abdn_split_needs_a_video_on_each_side(n: int, test_size: float) -> None:
    with pytest.raises(DatasetLayoutError, match="too few"):
        abdn_split(make_items(n), seed=0, test_size=test_size)


# --- errors --------------------------------------------------------------------------------------------


def test_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetLayoutError, match=f"^dataset folder {re.escape(str(root))} does not exist$"):
        load_dataset(root)


def test_empty_root_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=re.escape(f"{tmp_path} holds no class folders")) as caught:
        load_dataset(tmp_path)
    assert "ROOT/<class>/<video>" in str(caught.value)


def test_videos_directly_in_root_are_reported(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    with pytest.raises(DatasetLayoutError, match="found 1 videos directly in it"):
        load_dataset(tmp_path)


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    build_class_tree(tmp_path, {"run": 3, "walk": 3})
    (tmp_path / "jump").mkdir()
    touch(tmp_path / "jump" / "readme.txt")
    with pytest.raises(DatasetLayoutError, match=re.escape(f"class folder {tmp_path / 'jump'} holds no videos")):
        load_dataset(tmp_path)


def test_unknown_layout_lists_the_registered_ones(tmp_path: Path) -> None:
    assert {"folders", "ucf101", "hmdb51"} <= set(layout_names())
    with pytest.raises(ConfigError, match="unknown dataset layout 'charades'") as caught:
        load_dataset(tmp_path, layout="charades")
    for name in layout_names():
        assert name in str(caught.value)


@pytest.mark.parametrize("layout", ["folders", "ucf101"])
def test_unknown_split_lists_the_valid_ones(tmp_path: Path, layout: str) -> None:
    with pytest.raises(ConfigError, match="unknown split 'train'.*valid splits: abdn") as caught:
        load_dataset(tmp_path, layout=layout, split="train")
    assert ("1, 2, 3" in str(caught.value)) == (layout == "ucf101")


def test_official_split_on_folders_layout(tmp_path: Path) -> None:
    build_class_tree(tmp_path, {"run": 3})
    with pytest.raises(ConfigError, match="--layout hmdb51 or --layout ucf101|--layout ucf101 or --layout hmdb51"):
        load_dataset(tmp_path, split="1")


def test_annotations_on_folders_layout(tmp_path: Path) -> None:
    build_class_tree(tmp_path, {"run": 3})
    with pytest.raises(ConfigError, match="annotation"):
        load_dataset(tmp_path, annotations=tmp_path)


def test_bad_test_size_fails_before_the_disk_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="test_size"):
        load_dataset(tmp_path / "nowhere", test_size=0.0)


def test_register_layout_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="'folders' is already registered"):
        register_layout("folders")


def test_video_extensions() -> None:
    assert VIDEO_EXTENSIONS == {
        ".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
    }
    assert isinstance(Dataset(name="x", root=Path("x"), layout="folders", classes=[], train=[], test=[]).split, dict)
