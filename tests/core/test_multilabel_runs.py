"""Multi-label data end to end: the YouTube-8M layout (features that come with the data) with
NeXtVLAD, Hollywood2-style video lists through a CNN and a head, and the task's loss and metrics."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from core.data import load_dataset
from core.data.tfrecord import write_records
from core.data.youtube8m import Yt8mVideo, synthesize, write_frame_level
from core.data.yt8m_layout import read_vocabulary
from core.errors import ConfigError, DatasetLayoutError
from core.experiment import run_experiment
from core.predict import Predictor
from core.sampling import Sampling
from core.tasks import MultiLabel, SingleLabel, multilabel_metrics, task_for


@pytest.fixture(scope="module")
def yt8m_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("yt8m")
    synthesize(root, videos_per_split=80, num_classes=8, frames=(8, 30), seed=5)
    return root


def _yt8m_config(root: Path, **changes) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(str(root), layout="youtube8m", split="1"),
        features=FeatureConfig("yt8m"),
        head=HeadConfig("nextvlad", mask=True,
                        options={"audio_dim": 128, "hidden": 128, "clusters": 16}),
        train=TrainConfig("abdn", epochs=6, batch_size=16, lr=1e-3),
    ).with_changes(**changes)


def test_youtube8m_layout_reads_partitions_and_vocabulary(yt8m_root: Path) -> None:
    dataset = load_dataset(yt8m_root, layout="youtube8m", split="1")
    assert dataset.multilabel and len(dataset.classes) == 8
    assert dataset.classes[3] == "synthetic 3"
    assert len(dataset.train) == 80 and len(dataset.test) == 80
    assert all(item.labels and item.label == item.labels[0] for item in dataset.items())
    features = dataset.load_features(dataset.test[:2])
    assert features[0].shape[1] == 1152 and features[0].dtype == np.float16
    random = load_dataset(yt8m_root, layout="youtube8m", split="abdn", seed=1)
    assert len(random.test) == math.ceil(0.3 * 160)
    assert "multi-label" in dataset.summary()


def test_youtube8m_layout_skips_and_reports_damaged_records(tmp_path: Path, yt8m_root: Path
                                                            ) -> None:
    for path in yt8m_root.iterdir():
        shutil.copy(path, tmp_path / path.name)
    damaged = tmp_path / "validate0000.tfrecord"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one record's payload
    damaged.write_bytes(bytes(data))
    dataset = load_dataset(tmp_path, layout="youtube8m", split="1")
    assert len(dataset.test) == 79 and dataset.split["damaged"] == 1
    assert "1 damaged records skipped" in dataset.summary()


def test_youtube8m_layout_errors(tmp_path: Path, yt8m_root: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="no YouTube-8M frame-level files"):
        load_dataset(tmp_path, layout="youtube8m")
    write_records(tmp_path / "train0000.tfrecord", [])
    with pytest.raises(DatasetLayoutError, match="no validate"):
        load_dataset(tmp_path, layout="youtube8m", split="1")
    # A label beyond the vocabulary is an error, not a silently wrong multi-hot vector.
    (tmp_path / "vocabulary.csv").write_text("Index,Name\n0,a\n1,b\n")
    video = Yt8mVideo("x", (5,), np.zeros((3, 1024), np.float32), np.zeros((3, 128), np.float32))
    write_frame_level(tmp_path / "train0000.tfrecord", [video, video])
    with pytest.raises(DatasetLayoutError):
        load_dataset(tmp_path, layout="youtube8m")
    with pytest.raises(ConfigError, match="--backbone yt8m"):
        _yt8m_config(yt8m_root, features={"backbone": "vgg16"})
    with pytest.raises(ConfigError, match="come only with their dataset"):
        _yt8m_config(yt8m_root, data={"layout": "folders"})


def test_real_youtube8m_vocabulary(shared_data: Path, tmp_path: Path) -> None:
    names = read_vocabulary(shared_data / "annotations" / "youtube8m" / "vocabulary.csv")
    ids = (shared_data / "annotations" / "youtube8m" / "segment_label_ids.csv").read_text()
    assert len(names) == 1000
    assert set(names) == {int(line) for line in ids.split()[1:]}
    assert max(names) == 1831 and names[3] == "Concert"
    # A partial vocabulary names some of the 3,862 classes; it does not shrink the label space.
    root = tmp_path / "yt8m"
    root.mkdir()
    shutil.copy(shared_data / "annotations" / "youtube8m" / "vocabulary.csv", root)
    video = Yt8mVideo("v", (3, 3000), np.zeros((2, 1024), np.float32), np.zeros((2, 128), np.float32))
    write_frame_level(root / "train0000.tfrecord", [video, video.__class__("w", (7,), video.rgb,
                                                                           video.audio)])
    dataset = load_dataset(root, layout="youtube8m")
    assert len(dataset.classes) == 3862 and dataset.classes[3] == "Concert"
    assert dataset.classes[3000] == "class 3000"


def test_nextvlad_learns_youtube8m_records(yt8m_root: Path, tmp_path: Path) -> None:
    result = run_experiment(_yt8m_config(yt8m_root), run_dir=tmp_path / "run",
                            cache_dir=tmp_path / "cache")
    test = result.test
    assert test.task == "multi-label" and result.frames == 30  # every frame, not the mean
    assert test.extra["gap"] >= 0.8 and test.top1 >= 0.8, test.extra
    assert set(result.history[-1]) >= {"val_gap", "val_map", "val_perr"}
    with pytest.raises(ConfigError, match="not video files"):
        Predictor(tmp_path / "run" / "checkpoint.pt", device="cpu").predict("any.mp4")


def _hollywood_tree(root: Path, easy_dataset: Path) -> Path:
    """Hollywood2's layout made of the easy synthetic videos: each clip is positive for its own
    motion class, and "grow" clips also for a second action, so some clips have two labels."""
    actions = ["AnswerPhone", "DriveCar", "Eat", "FightPerson", "GetOutCar", "HandShake",
               "HugPerson", "Kiss", "Run", "SitDown", "SitUp", "StandUp"]
    motion_action = {"move_left": 0, "move_right": 1, "grow": 2, "shrink": 3}
    clips = (root / "AVIClips")
    clips.mkdir(parents=True)
    lists: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for motion, action in motion_action.items():
        for i, video in enumerate(sorted((easy_dataset / motion).glob("*.mp4"))):
            part = "test" if i % 3 == 0 else "train"
            name = f"actionclip{part}{action:02d}{i:03d}"
            shutil.copy(video, clips / f"{name}.mp4")
            positives = {action} | ({8} if motion == "grow" else set())
            lists[part][name] = [("1" if a in positives else "-1") for a in range(12)]
    (root / "ClipSets").mkdir()
    for part, clips_of in lists.items():
        for a, action in enumerate(actions):
            lines = [f"{name}  {marks[a]}" for name, marks in sorted(clips_of.items())]
            (root / "ClipSets" / f"{action}_{part}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_hollywood2_multilabel_run_reports_map(easy_dataset: Path, tmp_path: Path) -> None:
    root = _hollywood_tree(tmp_path / "hollywood2", easy_dataset)
    config = ExperimentConfig(
        data=DataConfig(str(root), layout="hollywood2", split="1"),
        features=FeatureConfig("tinycnn", weights="none", input_size=64,
                               sampling=Sampling("fps", fps=1.0)),
        head=HeadConfig("cnn-lstm", normalize="video"),
        train=TrainConfig("abdn", epochs=12, batch_size=8),
    )
    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0)
    test = result.test
    assert test.task == "multi-label" and len(test.per_class) == 12
    assert test.per_class[5] is None  # HandShake has no positive clip: left out of mAP
    assert test.extra["map"] >= 0.6, test.extra  # chance is far lower with 5 of 12 classes used
    prediction = Predictor(tmp_path / "run" / "checkpoint.pt", device="cpu").predict(
        sorted((root / "AVIClips").glob("*.mp4"))[0])
    # Multi-label probabilities are per class (sigmoid), not a distribution over classes.
    assert not math.isclose(sum(prediction.probabilities), 1.0, abs_tol=1e-3)


def test_task_is_read_off_the_labels() -> None:
    assert task_for(torch.tensor([0, 2])) is SingleLabel
    assert task_for(torch.zeros(2, 3)) is MultiLabel


def test_multilabel_loss_and_metrics_by_hand() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 1.0, 3.0], [0.0, 0.0, -1.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # Binary cross-entropy summed over the 3 classes, averaged over the 3 videos.
    by_hand = sum(
        -(y * math.log(1 / (1 + math.exp(-x))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-x))))
        for row, truth in zip(logits.tolist(), labels.tolist()) for x, y in zip(row, truth)) / 3
    assert math.isclose(MultiLabel.loss(logits, labels).item(), by_hand, rel_tol=1e-5)
    assert MultiLabel.hits(logits, labels) == 1  # video 1: class 0 is true; video 2: class 2 is not
    metrics = multilabel_metrics(logits, labels, 3)
    assert metrics.top1 == pytest.approx(1 / 3)
    # Hit@5 with 3 classes: any true label at all (the unlabelled video never hits).
    assert metrics.top5 == pytest.approx(2 / 3)
    # Class 0: its positive σ(2) ranks first of σ(2), σ(0), σ(-2) → AP 1. Class 1: σ(1) ranks
    # first too → AP 1. Class 2: the positive σ(0.5) comes after video 2's σ(3) → AP 1/2.
    assert metrics.per_class == pytest.approx([1.0, 1.0, 0.5])
    assert metrics.extra["map"] == pytest.approx(5 / 6)
    assert metrics.score == metrics.extra["map"]
    assert set(metrics.summary("val_")) == {"val_loss", "val_acc", "val_top5", "val_gap",
                                            "val_map", "val_perr"}
