"""NeXtVLAD against linrongc's reference: batch norm (epsilon 1e-3, decay 0.999, which running
variance), slim's initialisers, and a fixed-input forward recomputed here in numpy from the
reference's formulas (TensorFlow layouts: weights [in, out], centres [1, λN/G, K])."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.models.nextvlad import NeXtVLADHead, NeXtVLADModel, ReferenceBatchNorm

EPS = 1e-3  # slim.batch_norm's epsilon
OPTIONS = {"expansion": 2, "groups": 4, "clusters": 6, "hidden": 16, "gating_reduction": 4,
           "dropout": 0.0}
VIDEO, AUDIO, CLASSES = 24, 8, 5


def _model() -> NeXtVLADHead:
    """A small two-branch model with every parameter and running statistic made non-trivial."""
    torch.manual_seed(0)
    model = NeXtVLADHead(VIDEO + AUDIO, CLASSES, audio_dim=AUDIO, **OPTIONS)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                values = 0.05 + values.abs()  # small variances: where epsilon matters
            elif name.endswith("weight") and tensor.dim() == 1:
                values = 1 + 0.3 * values  # batch-norm γ
            else:
                values = 0.3 * values
            tensor.copy_(values)
    return model


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(5, 7, VIDEO + AUDIO, generator=generator)
    lengths = torch.tensor([7, 3, 5, 1, 6])
    return x, torch.arange(7)[None, :] < lengths[:, None]


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


def _batch_norm(x: np.ndarray, state: dict, prefix: str, stats: dict | None) -> np.ndarray:
    """slim.batch_norm: moving statistics in inference; the batch's (biased variance) in
    training, recorded in ``stats`` under ``prefix``."""
    if stats is None:
        mean, var = _np(state[prefix + "running_mean"]), _np(state[prefix + "running_var"])
    else:
        mean, var = x.mean(0), x.var(0)
        stats[prefix] = (mean, var, x.shape[0])
    gamma, beta = _np(state[prefix + "weight"]), _np(state[prefix + "bias"])
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _nextvlad(x: np.ndarray, mask: np.ndarray, state: dict, prefix: str, groups: int,
              clusters: int, stats: dict | None) -> np.ndarray:
    """NeXtVLAD.forward of the reference, step by step."""
    batch, frames, _ = x.shape
    w = lambda name: _np(state[prefix + name + ".weight"]).T  # noqa: E731 — [in, out]
    b = lambda name: _np(state[prefix + name + ".bias"])  # noqa: E731
    inp = x @ w("expand") + b("expand")  # fully_connected, no activation
    attention = _sigmoid(inp @ w("group_attention") + b("group_attention")) * mask[..., None]
    attention = attention.reshape(batch, frames * groups, 1)
    size = inp.shape[-1] // groups
    activation = inp.reshape(-1, inp.shape[-1]) @ w("assignment")  # cluster_weights
    activation = _batch_norm(activation, state, prefix + "assignment_bn.", stats)
    activation = activation.reshape(batch, frames * groups, clusters)
    activation = np.exp(activation - activation.max(-1, keepdims=True))
    activation = activation / activation.sum(-1, keepdims=True) * attention
    a = activation.sum(-2, keepdims=True) * _np(state[prefix + "centres"])  # cluster_weights2
    vlad = np.transpose(np.transpose(activation, (0, 2, 1))
                        @ inp.reshape(batch, frames * groups, size), (0, 2, 1)) - a
    vlad = vlad / np.sqrt(np.maximum((vlad ** 2).sum(1, keepdims=True), 1e-12))
    return _batch_norm(vlad.reshape(batch, clusters * size), state, prefix + "output_bn.", stats)


def reference_logits(model: NeXtVLADHead, x: torch.Tensor, mask: torch.Tensor,
                     stats: dict | None = None) -> np.ndarray:
    """NeXtVLADModel.create_model + LogisticModel, in numpy, dropout off."""
    state = model.state_dict()
    xs, ms = _np(x), _np(mask.float())
    g, k = OPTIONS["groups"], OPTIONS["clusters"]
    vlad = np.concatenate([
        _nextvlad(xs[..., :VIDEO], ms, state, "video.", g, k, stats),
        _nextvlad(xs[..., VIDEO:], ms, state, "audio.", g // 2, k // 2, stats)], axis=1)
    activation = _batch_norm(vlad @ _np(state["hidden.weight"]).T, state, "hidden_bn.", stats)
    gates = np.maximum(_batch_norm(activation @ _np(state["gating.squeeze.weight"]).T, state,
                                   "gating.bn.", stats), 0)
    activation = activation * _sigmoid(gates @ _np(state["gating.excite.weight"]).T)
    return activation @ _np(state["classifier.weight"]).T + _np(state["classifier.bias"])


def test_inference_forward_equals_the_reference_formulas() -> None:
    model = _model().eval()
    x, mask = _inputs()
    with torch.no_grad():
        ours = model(x, mask).logits.double().numpy()
    assert np.abs(ours - reference_logits(model, x, mask)).max() < 1e-4


def test_training_forward_and_moving_statistics_equal_the_reference() -> None:
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, mask = _inputs()
    stats: dict = {}
    expected = reference_logits(model, x, mask, stats)
    with torch.no_grad():
        ours = model(x, mask).logits.double().numpy()
    assert np.abs(ours - expected).max() < 1e-4
    after = model.state_dict()
    for prefix, (mean, var, count) in stats.items():
        # moving = decay·moving + (1 − decay)·batch; tf.nn.moments' biased variance, except the
        # gating's fused batch norm, whose kernel applies Bessel's correction.
        if prefix == "gating.bn.":
            var = var * count / (count - 1)
        for name, value in (("running_mean", mean), ("running_var", var)):
            moved = 0.999 * _np(before[prefix + name]) + 0.001 * value
            assert np.abs(_np(after[prefix + name]) - moved).max() < 1e-6, prefix + name


def test_every_batch_norm_has_tensorflows_epsilon_and_decay() -> None:
    model = NeXtVLADModel(num_classes=10, hidden=64, clusters=8)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 6  # two per NeXtVLAD, hidden, gating
    assert all(isinstance(m, ReferenceBatchNorm) for m in norms)
    assert all(m.eps == 1e-3 and m.momentum == 1e-3 for m in norms)
    assert [m.fused for m in norms] == [False, False, False, False, False, True]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)


@pytest.mark.parametrize("name, fan_in", [
    ("video.expand.weight", 1024), ("video.group_attention.weight", 2048),
    ("video.assignment.weight", 2048), ("video.centres", 2048 // 8),
    ("audio.expand.weight", 128), ("audio.centres", 256 // 4),
    ("hidden.weight", 32768 + 4096), ("gating.squeeze.weight", 512),
    ("gating.excite.weight", 64), ("classifier.weight", 512)])
def test_weights_follow_slims_variance_scaling(name: str, fan_in: int) -> None:
    torch.manual_seed(3)
    model = NeXtVLADModel(num_classes=1000, hidden=512)
    weight = dict(model.named_parameters())[name].detach()
    std = math.sqrt(1.3 * 2 / fan_in)  # truncated at 2 std: the result has std ≈ 0.8796·std
    assert weight.abs().max() <= 2 * std
    assert weight.std().item() == pytest.approx(0.87962566 * std, rel=0.05)
    assert abs(weight.mean().item()) < 0.05 * std


def test_biases_start_at_zero() -> None:
    model = NeXtVLADModel(num_classes=20, hidden=64, clusters=8)
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias") and "bn" not in n]
    assert len(biases) == 5 and all(torch.all(b == 0) for b in biases)


def test_an_all_padded_batch_gives_the_reference_logits() -> None:
    # No frame counts: every descriptor is 0 and tf.nn.l2_normalize keeps it 0.
    model = _model().eval()
    x, mask = _inputs()
    mask = torch.zeros_like(mask)
    with torch.no_grad():
        ours = model(x, mask).logits.double().numpy()
    assert np.abs(ours - reference_logits(model, x, mask)).max() < 1e-4
