"""Every backbone × head from the registries: seeded forward/backward, shapes, parameter counts."""

from __future__ import annotations

import pytest
import torch

from core.backbones import BACKBONES, backbone_names, build_backbone, feature_shape
from core.errors import ConfigError
from core.models import build_head, get_head_spec, head_names
from core.models.abdn import TemporalAttention
from core.sequences import reduce_maps

_BACKBONE_CACHE: dict[str, torch.nn.Module] = {}
# Smaller than the published sizes, so that 7 backbones × every head stay quick on a CPU.
SMALL = {"gla": {"hidden": 64, "layers": 2}, "nextvlad": {"clusters": 16, "hidden": 64},
         "soft-attention": {"hidden": 64}}


def _backbone(name: str):
    if name not in _BACKBONE_CACHE:
        size = max(32, BACKBONES[name].min_input_size)
        _BACKBONE_CACHE[name] = build_backbone(name, weights="none", input_size=size)
    return _BACKBONE_CACHE[name]


@pytest.mark.parametrize("head", head_names())
@pytest.mark.parametrize("backbone", [b for b in backbone_names()
                                      if BACKBONES[b].kind != "precomputed"])
def test_backbone_head_forward_backward(backbone: str, head: str) -> None:
    if get_head_spec(head).end_to_end and backbone != "pixels":
        pytest.skip("end-to-end models read the frames (the pixels backbone) only")
    torch.manual_seed(0)
    net = _backbone(backbone)
    size = net.input_size
    steps = get_head_spec(head).default_frames or 3
    frames = torch.randint(0, 256, (2 * steps, size, size, 3), dtype=torch.uint8)
    with torch.no_grad():
        maps = net(net.preprocess(frames))
    assert maps.shape[1:] == feature_shape(backbone, size)
    reduction = get_head_spec(head).reductions[0]
    if BACKBONES[backbone].kind == "pixels" and reduction == "avg":
        reduction = "flatten"  # the mean of a frame's pixels is one number per channel
    feats = torch.from_numpy(reduce_maps(maps.numpy(), reduction))
    feats = feats.view(2, steps, *feats.shape[1:])
    in_dim = feats.shape[2] if reduction == "none" else feats.shape[-1]
    model = build_head(head, in_dim=in_dim, num_classes=4, frames=steps, options=SMALL.get(head))
    model.train()
    out = model(feats, None)
    assert out.logits.shape == (2, 4)
    assert torch.isfinite(out.logits).all()
    labels = torch.tensor([0, 3])
    loss = model.loss(out, labels)  # every head is a TemporalHead
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert all(not p.requires_grad for p in net.parameters()), "the backbone must stay frozen"


def test_forward_is_seeded() -> None:
    def run() -> torch.Tensor:
        torch.manual_seed(123)
        model = build_head("cnn-lstm-attention", in_dim=16, num_classes=3, frames=5)
        model.eval()
        return model(torch.ones(1, 5, 16), None).logits

    assert torch.equal(run(), run())


def test_random_backbone_is_reproducible_from_its_seed() -> None:
    a = build_backbone("tinycnn", weights="none", input_size=32, init_seed=7)
    b = build_backbone("tinycnn", weights="none", input_size=32, init_seed=7)
    c = build_backbone("tinycnn", weights="none", input_size=32, init_seed=8)
    x = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(a(a.preprocess(x)), b(b.preprocess(x)))
        assert not torch.equal(a(a.preprocess(x)), c(c.preprocess(x)))


# SEEDS.md §1.8: Keras counts for T = 7, C = 101 at 224 px; PyTorch's LSTM has 2,048 more biases.
KERAS_COUNTS = {
    "vgg16": (52_221_029, 53_793_949, 52_221_085),
    "vgg19": (52_221_029, 53_793_949, 52_221_085),
    "inceptionv3": (105_698_405, 107_271_325, 105_698_461),
    "resnet50": (206_361_701, 207_934_621, 206_361_757),
    "xception": (206_361_701, 207_934_621, 206_361_757),
}
MODES = ("cnn-lstm", "cnn-lstm-attention", "cnn-attention-lstm")


def _formula(mode: str, d: int, t: int, c: int) -> int:
    lstm = 2048 * (d + 257)
    if mode == "cnn-lstm":
        return lstm + 512 * 512 + 512 + 513 * c
    if mode == "cnn-attention-lstm":
        return lstm + 512 * 512 + 512 + 513 * c + t * t + t
    return lstm + t * t + t + t * 512 * 512 + 512 + 513 * c


def _count(mode: str, d: int, t: int, c: int) -> int:
    with torch.device("meta"):
        model = build_head(mode, in_dim=d, num_classes=c, frames=t)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_the_abdn_grid_is_the_registered_one() -> None:
    assert backbone_names(abdn_only=True) == list(KERAS_COUNTS)
    assert head_names(abdn_only=True) == list(MODES)


@pytest.mark.parametrize("backbone", list(KERAS_COUNTS))
def test_parameter_counts_match_seeds(backbone: str) -> None:
    c, h, w = feature_shape(backbone, 224)
    d = c * h * w
    for mode, keras in zip(MODES, KERAS_COUNTS[backbone]):
        assert _formula(mode, d, 7, 101) == keras
        assert _count(mode, d, 7, 101) == keras + 2048, (backbone, mode)


@pytest.mark.parametrize(("t", "c"), [(8, 101), (7, 99), (12, 6)])
def test_parameter_counts_follow_the_formula(t: int, c: int) -> None:
    for mode in MODES:
        assert _count(mode, 25_088, t, c) == _formula(mode, 25_088, t, c) + 2048


def test_feature_dims_at_224_match_abdn() -> None:
    dims = {b: feature_shape(b, 224) for b in KERAS_COUNTS}
    assert dims == {"vgg16": (512, 7, 7), "vgg19": (512, 7, 7), "inceptionv3": (2048, 5, 5),
                    "resnet50": (2048, 7, 7), "xception": (2048, 7, 7)}


def test_attention_block_is_a_softmax_over_time_per_channel() -> None:
    torch.manual_seed(0)
    block = TemporalAttention(4)
    x = torch.randn(2, 4, 6)
    y, weights = block(x)
    assert weights.shape == (2, 4, 6)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, 6))
    assert torch.allclose(y, x * weights)
    # Shared across channels: the same time series in two channels gets the same weights.
    x[:, :, 1] = x[:, :, 0]
    _, weights = block(x)
    assert torch.allclose(weights[:, :, 0], weights[:, :, 1])
    # Padded frames get no weight when masked.
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    _, weights = block(x, mask)
    assert torch.all(weights[0, 2:] == 0)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, 6))


def test_modes_build_different_models() -> None:
    """The original code trained cnn-lstm for every hyphenated mode; here each mode is its own."""
    kinds = {}
    for mode in MODES:
        model = build_head(mode, in_dim=8, num_classes=3, frames=4)
        kinds[mode] = (model.pre_attention is not None, model.post_attention is not None)
    assert kinds == {"cnn-lstm": (False, False), "cnn-lstm-attention": (False, True),
                     "cnn-attention-lstm": (True, False)}


def test_final_states_are_h_n_not_last_output() -> None:
    torch.manual_seed(0)
    model = build_head("cnn-lstm", in_dim=5, num_classes=2, frames=4)
    x = torch.randn(1, 4, 5)
    out, (h_n, _) = model.lstm.lstm(x)
    # Backward direction's final state sits at time 0 of the output, not at the last step.
    assert torch.allclose(h_n[1], out[:, 0, 256:])
    assert not torch.allclose(h_n[1], out[:, -1, 256:])


def test_keras_initialisation() -> None:
    model = build_head("cnn-lstm", in_dim=10, num_classes=3, frames=4)
    bias = model.lstm.lstm.bias_ih_l0
    assert torch.all(bias[256:512] == 1) and torch.all(bias[:256] == 0)
    assert torch.all(model.lstm.lstm.bias_hh_l0 == 0)
    w = model.lstm.lstm.weight_hh_l0  # (4H, H), orthogonal columns
    assert torch.allclose(w.T @ w, torch.eye(256), atol=1e-4)


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="cnn-lstm-attention"):
        build_head("cnn_lstm_attention", in_dim=4, num_classes=2, frames=2)
    with pytest.raises(ConfigError, match="vgg16"):
        feature_shape("alexnet")


@pytest.mark.parametrize("masked", [False, True])
def test_fused_cpu_lstm_equals_torch_lstm(masked: bool) -> None:
    from core.models.lstm import BiLSTM

    torch.manual_seed(0)
    layer = BiLSTM(12, 8)
    x = torch.randn(3, 5, 12)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    out, final = layer._fused(x, mask if masked else None)
    ref_out, ref_final = layer._cudnn(x, mask if masked else None)  # nn.LSTM, packed when masked
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(final, ref_final, atol=1e-5)
    if masked:
        assert torch.all(out[1, 3:] == 0)
    grad = torch.autograd.grad(out.sum() + final.sum(), layer.lstm.weight_ih_l0)[0]
    ref_grad = torch.autograd.grad(ref_out.sum() + ref_final.sum(), layer.lstm.weight_ih_l0)[0]
    assert torch.allclose(grad, ref_grad, atol=1e-4)


def test_nextvlad_parameter_count_matches_the_reference() -> None:
    from core.models.nextvlad import NeXtVLADModel

    with torch.device("meta"):
        model = NeXtVLADModel(3862)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 88_889_378
    assert sum(p.numel() for p in model.video.parameters()) == 4_313_096
    assert sum(p.numel() for p in model.audio.parameters()) == 112_388


def test_nextvlad_masks_padded_frames() -> None:
    from core.models.nextvlad import NeXtVLAD

    torch.manual_seed(0)
    layer = NeXtVLAD(16, groups=4, clusters=8).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    changed = x.clone()
    changed[0, 3:] = 100.0  # what padding holds must not matter
    assert torch.allclose(layer(x, mask)[0], layer(changed, mask)[0], atol=1e-5)


def test_soft_attention_weights_are_distributions_over_locations() -> None:
    torch.manual_seed(0)
    model = build_head("soft-attention", in_dim=6, num_classes=3, frames=4,
                       options={"hidden": 8, "penalty": 1.0, "last_n": 2}).eval()
    maps = torch.randn(2, 4, 6, 3, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    out = model(maps, mask)
    assert out.spatial_attention.shape == (2, 4, 9)
    assert torch.allclose(out.spatial_attention.sum(-1), torch.ones(2, 4), atol=1e-5)
    assert torch.allclose(out.logits.exp().sum(-1), torch.ones(2), atol=1e-5)
    with_penalty = model.loss(out, torch.tensor([0, 1]))
    model.penalty = 0.0
    assert with_penalty > model.loss(out, torch.tensor([0, 1]))


def test_gla_hinge_pushes_attention_streams_above_global_pooling() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=3, frames=3,
                       options={"hidden": 8, "layers": 1}).eval()
    out = model(torch.randn(2, 3, 4, 2, 2), None)
    labels = torch.tensor([1, 2])
    ce = torch.nn.functional.cross_entropy(out.logits, labels)
    assert model.loss(out, labels) >= ce  # the hinges never lower the loss
    fused = (out.extras["gp"] + out.extras["sa"] + out.extras["la"]) / 3
    assert torch.allclose(out.logits, fused)
    assert out.spatial_attention.shape == (2, 3, 4)
