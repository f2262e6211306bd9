"""ABDN's Sports-1M-99: the built-in class list against the real Sports-1M labels, and the layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data import load_dataset
from core.data.layouts import SPORTS1M_99
from core.errors import DatasetLayoutError


def test_the_99_classes_are_among_the_first_202_sports1m_labels(shared_data: Path) -> None:
    labels = (shared_data / "annotations" / "sports1m" / "labels.txt").read_text(
        encoding="utf-8").splitlines()
    assert len(labels) == 487
    assert len(SPORTS1M_99) == 99 == len(set(SPORTS1M_99))
    assert list(SPORTS1M_99) == sorted(SPORTS1M_99, key=lambda n: n.replace("é", "e"))
    assert set(SPORTS1M_99) <= set(labels[:202])
    assert not set(SPORTS1M_99) <= set(labels[:99])  # not "the first 99", as the slides say


def test_layout_takes_the_99_class_folders(tmp_path: Path) -> None:
    for name in SPORTS1M_99:
        (tmp_path / name).mkdir()
        for i in range(2):
            (tmp_path / name / f"vid{i} {name}.mp4").write_bytes(b"\0")
    dataset = load_dataset(tmp_path, layout="sports1m99", seed=1)
    assert dataset.classes == list(SPORTS1M_99)
    assert len(dataset.train) + len(dataset.test) == 198 and len(dataset.test) == 60
    (tmp_path / "cricket").mkdir()
    (tmp_path / "cricket" / "x.mp4").write_bytes(b"\0")
    with pytest.raises(DatasetLayoutError, match="not classes of ABDN's Sports-1M-99 list"):
        load_dataset(tmp_path, layout="sports1m99")
    (tmp_path / "cricket" / "x.mp4").unlink()
    (tmp_path / "pétanque").rename(tmp_path / "petanque")  # ABDN's own spelling works too
    assert "petanque" in load_dataset(tmp_path, layout="sports1m99").classes
    for video in (tmp_path / "luge").iterdir():
        video.unlink()
    with pytest.raises(DatasetLayoutError, match="luge holds no videos"):
        load_dataset(tmp_path, layout="sports1m99")
