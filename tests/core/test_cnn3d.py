"""The 3D CNN of Ji et al. (2013): the paper's shapes and parameter count, the hardwired layer,
the registry contract, and learning a small motion-direction task on raw frames."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from core.models import build_head, get_head_spec
from core.models.cnn3d import CNN3DHead, gradients, grouped_conv3d, horn_schunck

PAPER = dict(in_dim=1, num_classes=3, frames=7)  # 7 grey frames of 40×60 (H×W), 3 KTH-like classes


def test_registered_as_a_raw_frame_head() -> None:
    spec = get_head_spec("3d-cnn")
    assert spec.family == "3D CNN (Ji et al. 2013)" and spec.reductions == ("none",)
    assert "Ji et al. 2013" in spec.description
    assert spec.end_to_end and spec.default_frames == 7  # the paper's 7 frames
    in_dim, frames = spec.probe  # what the config checks options with, on the meta device
    with torch.device("meta"):
        build_head("3d-cnn", in_dim=in_dim, num_classes=2, frames=frames,
                   options={"hardwired": False, "features": 64})


def test_shapes_at_the_paper_input() -> None:
    model = CNN3DHead(**PAPER)
    stages = model.stages(torch.rand(2, 7, 1, 40, 60))
    assert stages["h1"].shape == (2, 33, 40, 60)  # 7 grey + 7 + 7 gradients + 6 + 6 flow
    assert stages["c2"].shape == (2, 46, 34, 54)  # 2 sets × (3 channels × 5 + 2 flows × 4)
    assert stages["s3"].shape == (2, 46, 17, 27)
    assert stages["c4"].shape == (2, 78, 12, 21)  # 6 sets × (3 × 3 + 2 × 2)
    assert stages["s5"].shape == (2, 78, 4, 7)  # = a 3×3 pooling here
    assert stages["c6"].shape == (2, 128)
    assert stages["logits"].shape == (2, 3)
    assert model(torch.rand(2, 7, 1, 40, 60)).logits.shape == (2, 3)


def test_parameter_count_at_the_paper_setting() -> None:
    model = CNN3DHead(**PAPER)
    c2 = 5 * 2 * (3 * 7 * 7 + 1)  # 5 channels × 2 sets of 3×7×7 kernels + bias = 1,480
    c4 = 5 * 2 * 3 * (3 * 6 * 7 + 1)  # 5 channels × 6 sets of 3×6×7 kernels + bias = 3,810
    c6 = 128 * (78 * 4 * 7 + 1)  # 128 maps of 4×7 over all 78 S5 maps + bias = 279,680
    output = 3 * (128 + 1)  # 387
    assert c2 + c4 + c6 + output == 285_357  # the paper reports ~295k (its subsampling layers
    # have trainable coefficients; otherwise unexplained): within 4 %
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 285_357


@pytest.mark.parametrize("groups, out, kernel, shape", [(3, 6, (3, 7, 7), (2, 3, 7, 40, 60)),
                                                      (12, 36, (3, 6, 7), (2, 12, 4, 17, 27))])
def test_grouped_conv3d_is_the_conv3d(groups, out, kernel, shape) -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(groups, out, kernel, groups=groups)
    x = torch.rand(shape)
    assert torch.allclose(grouped_conv3d(conv, x), conv(x), atol=1e-5)


def test_gradients_of_a_horizontal_ramp_are_constant() -> None:
    ramp = torch.arange(60, dtype=torch.float32).repeat(40, 1)[None] * 0.01  # (1, 40, 60)
    gx, gy = gradients(ramp)
    assert torch.allclose(gx, torch.full_like(gx, 0.01), atol=1e-6)
    assert torch.allclose(gy, torch.zeros_like(gy), atol=1e-6)


def test_flow_of_a_square_moving_right() -> None:
    first, second = torch.zeros(1, 40, 60), torch.zeros(1, 40, 60)
    first[:, 15:25, 20:30] = 1.0
    second[:, 15:25, 21:31] = 1.0  # one pixel to the right
    u, v = horn_schunck(first, second, iterations=10, alpha=1.0)
    area = (slice(None), slice(15, 25), slice(20, 31))
    assert u[area].mean() > 0.1
    assert v[area].mean().abs() < 1e-3 and v.mean().abs() < 1e-3  # symmetric: no net y motion
    # and through the head's hardwired layer: channels 3 and 4 are the flow
    clip = torch.stack([first, second] * 3 + [first], 1)[:, :, None]  # (1, 7, 1, 40, 60)
    h1 = CNN3DHead(**PAPER).stages(clip)["h1"]
    assert h1[0, 21][area[1:]].mean() > 0.1  # flow-x of the first pair (frame 0 → 1)
    assert h1[0, 22][area[1:]].mean() < -0.1  # and back (frame 1 → 2)


def test_seeded_forward_backward_from_the_registry_has_finite_grads() -> None:
    torch.manual_seed(0)
    model = build_head("3d-cnn", in_dim=1, num_classes=4, frames=7)
    x = torch.rand(3, 7, 1, 40, 60)
    output = model(x, torch.ones(3, 7, dtype=torch.bool))
    assert output.attention is None and output.logits.shape == (3, 4)
    torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 1, 3])).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_builds_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = build_head("3d-cnn", in_dim=3, num_classes=5, frames=9,
                           options={"sets": 3, "dropout": 0.5})
    assert all(p.is_meta for p in model.parameters())


def test_without_the_hardwired_layer() -> None:
    model = build_head("3d-cnn", in_dim=1, num_classes=3, frames=5, options={"hardwired": False})
    stages = model.stages(torch.rand(2, 5, 1, 40, 60))
    assert stages["h1"].shape == (2, 5, 40, 60)  # the grey frames only
    assert stages["c4"].shape == (2, 6, 12, 21)  # 2 × 3 sets × 1 frame
    assert stages["logits"].shape == (2, 3)


def test_rgb_frames_and_other_sizes() -> None:
    model = build_head("3d-cnn", in_dim=3, num_classes=2, frames=8)
    assert model(torch.rand(2, 8, 3, 64, 64)).logits.shape == (2, 2)
    assert model(torch.rand(1, 8, 3, 24, 32)).logits.shape == (1, 2)  # the smallest size
    grey = torch.rand(1, 8, 1, 40, 60)
    rgb = grey.expand(-1, -1, 3, -1, -1)  # a grey picture in RGB: the same luma
    assert torch.allclose(model.stages(rgb)["h1"][:, :8], grey[:, :, 0], atol=1e-6)


def test_too_small_or_wrong_input_raises() -> None:
    model = build_head("3d-cnn", in_dim=1, num_classes=2, frames=7)
    with pytest.raises(ValueError, match="too small"):
        model(torch.rand(1, 7, 1, 23, 60))
    with pytest.raises(ValueError, match="too small"):
        model(torch.rand(1, 7, 1, 40, 31))
    with pytest.raises(ValueError, match="7 frames"):
        model(torch.rand(1, 6, 1, 40, 60))
    with pytest.raises(ConfigError, match="at least 6 frames"):
        build_head("3d-cnn", in_dim=1, num_classes=2, frames=5)
    with pytest.raises(ConfigError, match="grey"):
        build_head("3d-cnn", in_dim=16, num_classes=2, frames=7)
    with pytest.raises(ConfigError):
        build_head("3d-cnn", in_dim=1, num_classes=2, frames=7, options={"kernels": 3})


DIRECTIONS = ((0, -2), (0, 2), (-2, 0), (2, 0))  # (dy, dx) per frame: left, right, up, down


def _moving_blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n clips of 7 grey 40×60 frames: a bright Gaussian blob moving 2 px a frame in the class's
    direction from a random start, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    rows = torch.arange(40, dtype=torch.float32)[:, None]
    cols = torch.arange(60, dtype=torch.float32)[None, :]
    clips = torch.empty(n, 7, 1, 40, 60)
    for i, label in enumerate(labels.tolist()):
        dy, dx = DIRECTIONS[label]
        # a start from which the blob stays at least 5 px inside the frame for all 7 frames
        y0 = 5 + (12 if dy < 0 else 0) + torch.rand((), generator=generator) * 18
        x0 = 5 + (12 if dx < 0 else 0) + torch.rand((), generator=generator) * 38
        for t in range(7):
            y, x = y0 + dy * t, x0 + dx * t
            clips[i, t, 0] = torch.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * 3.0 ** 2))
    clips += 0.1 * torch.randn(clips.shape, generator=generator)
    return clips, labels


def test_learns_the_direction_of_a_moving_blob() -> None:
    train_x, train_y = _moving_blobs(96, seed=1)
    test_x, test_y = _moving_blobs(80, seed=2)
    torch.manual_seed(0)
    model = build_head("3d-cnn", in_dim=1, num_classes=4, frames=7)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        model.train()
        for batch in torch.randperm(96, generator=generator).split(16):
            loss = torch.nn.functional.cross_entropy(model(train_x[batch]).logits,
                                                     train_y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).logits.argmax(1) == test_y).float().mean().item()
    assert accuracy >= 0.8, accuracy  # chance is 0.25


def test_3d_cnn_trains_end_to_end_on_video_pixels(easy_dataset, easy_config, tmp_path) -> None:
    """The baseline row of the ABDN table through the whole engine: the pixels backbone caches grey
    frames, the 3D CNN is trained on them from scratch (no pretraining, as Ji et al.)."""
    from core.config import FeatureConfig, HeadConfig
    from core.experiment import run_experiment
    from core.predict import Predictor
    from core.sampling import Sampling

    config = easy_config(easy_dataset, epochs=15).with_changes(
        features=FeatureConfig("pixels", input_size=64, sampling=Sampling("fps", fps=4.0)),
        head=HeadConfig("3d-cnn", options={"dropout": 0.5}))
    assert config.features.weights == "none"  # pixels have no weights to choose
    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0)
    assert result.frames == 7  # Ji et al.'s 7 frames unless --frames says otherwise
    assert result.parameters == 285_357 - 3 * 129 + 4 * 129  # the paper's net, 4 classes
    assert result.test.top1 >= 0.4, result.history[-3:]  # chance is 0.25
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    prediction = Predictor(tmp_path / "run" / "checkpoint.pt", device="cpu").predict(video)
    assert prediction.frames_used == 7 and prediction.attention is None


def test_3d_cnn_needs_the_pixels_backbone(easy_dataset, easy_config) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="--backbone pixels"):
        easy_config(easy_dataset, "3d-cnn")


def test_frame_counts_and_inputs_are_checked_before_a_run() -> None:
    from core.config import HeadConfig

    # The options are checked with the config's own T: a 3-frame 3D CNN fails at once.
    with pytest.raises(ConfigError, match="at least 6"):
        HeadConfig("3d-cnn", frames=3, options={"dropout": 0.1})
