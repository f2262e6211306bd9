"""Soft attention, GLA and NeXtVLAD learn: end to end on the easy synthetic set where the class is
in the motion, and (NeXtVLAD, which ignores frame order by design) on a bag-of-frames task."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core.experiment import run_experiment
from core.models import build_head
from core.predict import Predictor
from core.presets import PRESETS
from core.sequences import SequenceSet
from core.train import TrainSettings, train_head

SPATIAL = {"soft-attention": {"hidden": 128}, "gla": {"hidden": 128, "layers": 1}}


@pytest.fixture(scope="module", params=sorted(SPATIAL))
def spatial_run(request, easy_dataset: Path, easy_config, tmp_path_factory):
    head = request.param
    config = easy_config(easy_dataset, head, epochs=15).with_changes(
        head={"options": SPATIAL[head]})
    run_dir = tmp_path_factory.mktemp(head)
    result = run_experiment(config, run_dir=run_dir, cache_dir=tmp_path_factory.mktemp("c"),
                            num_workers=0)
    return head, result


def test_spatial_heads_learn_the_easy_synthetic_set(spatial_run) -> None:
    head, result = spatial_run
    assert result.config.head.reduction == "none"  # they read the conv maps themselves
    assert result.test.top1 >= 0.75, (head, result.history[-3:])  # chance is 0.25


def test_spatial_heads_predict_attention_maps(spatial_run, easy_dataset: Path) -> None:
    _, result = spatial_run
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    prediction = Predictor(result.run_dir / "checkpoint.pt", device="cpu").predict(video)
    assert prediction.map_size == (4, 4)  # tinycnn at 64 px
    assert len(prediction.spatial_attention) == prediction.frames_used
    for weights in prediction.spatial_attention:
        assert len(weights) == 16 and math.isclose(sum(weights), 1.0, rel_tol=1e-4)
    assert prediction.to_dict()["spatial_attention"] == prediction.spatial_attention


def _bags(prototypes: torch.Tensor, n: int, frames: int, seed: int) -> SequenceSet:
    """Each class draws its frames from its own prototypes, in any order, plus noise: a task for
    an aggregator that ignores frame order."""
    generator = torch.Generator().manual_seed(seed)
    classes, count, dim = prototypes.shape
    labels = torch.arange(n) % classes
    pick = torch.randint(0, count, (n, frames), generator=generator)
    features = prototypes[labels[:, None], pick] + torch.randn(n, frames, dim,
                                                               generator=generator)
    mask = torch.ones(n, frames, dtype=torch.bool)
    return SequenceSet(features.half(), mask, labels, torch.full((n,), frames))


def test_nextvlad_learns_a_bag_of_frames(tmp_path: Path) -> None:
    prototypes = torch.randn(4, 3, 32, generator=torch.Generator().manual_seed(0)) * 2
    train, test = _bags(prototypes, 160, 6, seed=1), _bags(prototypes, 80, 6, seed=2)
    torch.manual_seed(0)
    model = build_head("nextvlad", in_dim=32, num_classes=4, frames=6,
                       options={"clusters": 8, "groups": 4, "hidden": 64})
    settings = TrainSettings(PRESETS["modern"], epochs=15, batch_size=16, lr=1e-3, seed=0,
                             device=torch.device("cpu"), precision="fp32", use_mask=True)
    outcome = train_head(model, train, test, 4, settings, run_dir=tmp_path,
                         checkpoint_extra={})
    assert max(h["val_acc"] for h in outcome.history) >= 0.9  # chance is 0.25


def test_attention_picture(spatial_run, easy_dataset: Path, tmp_path: Path) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from avc_tui.cli import app

    _, result = spatial_run
    video = sorted((easy_dataset / "move_left").glob("*.mp4"))[0]
    out = tmp_path / "attention.png"
    answer = CliRunner().invoke(app, ["attention", str(result.run_dir), str(video), "--out",
                                      str(out), "--frames", "3"])
    assert answer.exit_code == 0, answer.output
    picture = Image.open(out)
    assert picture.size == (3 * 224 + 2 * 20, 2 * 224)  # 3 frames over their overlays
    pixels = np.asarray(picture.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels[:224, :224] - pixels[224:, :224]).mean() > 1  # the overlay differs
