"""The Kinetics layout on the real CSVs: quoted labels, both CSV dialects, clips found by id,
missing clips counted and reported, bad CSVs refused."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from core.data import load_dataset
from core.data.kinetics import parse_kinetics_csv
from core.errors import ConfigError, DatasetLayoutError


@pytest.fixture()
def kinetics(shared_data: Path, tmp_path: Path) -> Path:
    """K400's real val CSV, a train CSV made of its other rows, and clips for some ids."""
    val = parse_kinetics_csv(shared_data / "annotations" / "kinetics" / "kinetics-400_val.csv")
    segway = [row for row in val if row[0] == "using segway"]
    abseil = [row for row in val if row[0] == "abseiling"]
    root = tmp_path / "k400"
    (root / "clips").mkdir(parents=True)
    with open(root / "kinetics-400_train.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        for label, youtube_id in segway[:6] + abseil[:6]:
            writer.writerow([label, youtube_id, 0, 10, "train", 0])
    with open(root / "kinetics-400_val.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        for label, youtube_id in segway[6:9] + abseil[6:9]:
            writer.writerow([label, youtube_id, 0, 10, "val", 0])
    clip = sorted((shared_data / "videos").glob("*.mp4"))[0]
    for _, youtube_id in segway[:9] + abseil[:8]:  # one val clip of abseiling is missing
        shutil.copy(clip, root / "clips" / f"{youtube_id}_000000_000010.mp4")
    return root


def test_real_csvs_parse(shared_data: Path) -> None:
    folder = shared_data / "annotations" / "kinetics"
    k400 = parse_kinetics_csv(folder / "kinetics-400_val.csv")
    assert len(k400) == 19906
    labels = {label for label, _ in k400}
    assert len(labels) == 400 and "using segway" in labels
    assert labels == set((folder / "label_map.txt").read_text().splitlines())
    k600 = parse_kinetics_csv(folder / "kinetics-600_val.csv")  # no is_cc column
    assert len(k600) == 30000 and len({label for label, _ in k600}) == 600
    with pytest.raises(DatasetLayoutError, match="no label and youtube_id columns"):
        parse_kinetics_csv(folder / "kinetics-400_test.csv")


def test_official_split_and_missing_clips(kinetics: Path) -> None:
    dataset = load_dataset(kinetics, layout="kinetics", split="1")
    assert dataset.classes == ["abseiling", "using segway"]
    assert (len(dataset.train), len(dataset.test)) == (12, 5)
    assert dataset.split["missing"] == 1
    assert "1 listed videos are not on disk" in dataset.summary()
    assert all(item.path.name.endswith("_000000_000010.mp4") for item in dataset.items())


def test_abdn_split_of_the_clips_on_disk(kinetics: Path) -> None:
    dataset = load_dataset(kinetics, layout="kinetics", split="abdn", seed=3)
    assert len(dataset.train) + len(dataset.test) == 17
    assert len(dataset.test) == 6  # ceil(0.3 × 17)
    with pytest.raises(ConfigError, match="unknown split '2'"):
        load_dataset(kinetics, layout="kinetics", split="2")


def test_no_clips_or_no_csvs_are_clear_errors(kinetics: Path, tmp_path: Path) -> None:
    shutil.rmtree(kinetics / "clips")
    with pytest.raises(DatasetLayoutError, match="none of the 18 listed Kinetics clips"):
        load_dataset(kinetics, layout="kinetics", split="1")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DatasetLayoutError, match="expected one \\*_train.csv"):
        load_dataset(tmp_path / "bare", layout="kinetics", split="1")
