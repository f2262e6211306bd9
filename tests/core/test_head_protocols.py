"""The papers' sampling and test protocols inside the spatial heads: GLA's TSN segments with a
10-sample test average (Zheng et al.), soft attention's sliding windows with a per-video majority
vote (Sharma et al.), and both heads' multi-label losses."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from core.models import build_head
from core.models.gla import segment_ranks
from core.models.soft_attention import vote_logits, window_ranks, window_starts

GLA = {"hidden": 8, "layers": 1}
SOFT = {"hidden": 8}


def _maps(b: int, t: int, c: int = 4, side: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, c, side, side, generator=torch.Generator().manual_seed(seed))


def _prefix_mask(lengths: list[int], t: int) -> torch.Tensor:
    return torch.arange(t)[None] < torch.tensor(lengths)[:, None]


def _frame_numbered(b: int, t: int, c: int = 4, side: int = 2) -> torch.Tensor:
    """Maps whose every value is the frame's position, so a gathered window shows its frames."""
    return torch.arange(t, dtype=torch.float)[None, :, None, None, None].expand(
        b, t, c, side, side).clone()


# --- GLA: TSN sampling ----------------------------------------------------------------------


def test_segment_ranks_take_one_frame_per_chunk_in_time_order() -> None:
    n_real = torch.tensor([40, 37, 12])
    draws = torch.rand(3, 12, generator=torch.Generator().manual_seed(1))
    draws[0, 0], draws[1, -1] = 0.0, 1 - 1e-9  # the chunks' edges
    ranks = segment_ranks(n_real, 12, draws)
    chunk = (n_real // 12)[:, None]
    assert ranks.shape == (3, 12)
    assert torch.equal(ranks // chunk, torch.arange(12).expand(3, 12))  # one per chunk
    assert (ranks.diff(dim=1) > 0).all()  # sorted, no repeats
    assert (ranks < n_real[:, None]).all()
    assert torch.equal(ranks[2], torch.arange(12))  # 12 frames, 12 chunks of one


def test_segment_ranks_repeat_frames_of_a_video_shorter_than_the_segments() -> None:
    ranks = segment_ranks(torch.tensor([5, 1, 0]), 12, torch.rand(3, 12))
    assert torch.equal(ranks[0], torch.linspace(0, 4, 12).round().long())
    assert (ranks[1:] == 0).all()  # a single (or no) real frame: always the first position
    assert (ranks[0].diff() >= 0).all()


def test_gla_training_forward_reads_one_random_frame_per_segment() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=3, frames=40,
                       options={**GLA, "segments": 12}).train()
    lengths = [40, 37]
    x, mask = _maps(2, 40), _prefix_mask(lengths, 40)
    seen = []
    model.gp.rnn.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    torch.manual_seed(5)
    out = model(x, mask)
    index = out.extras["frame_index"]
    assert seen == [(2, 12, 4)]  # the recurrent model sees 12 steps, not 40
    assert index.shape == (2, 12) and (index.diff(dim=1) > 0).all()
    for row, n in zip(index, lengths):
        assert (row < n).all()
        assert torch.equal(row // (n // 12), torch.arange(12))
    assert out.spatial_attention.shape == (2, 12, 4)

    # Only the sampled frames matter, and the global RNG makes the draw reproducible.
    changed = x.clone()
    unsampled = torch.ones(2, 40, dtype=torch.bool)
    unsampled[torch.arange(2)[:, None], index] = False
    changed[unsampled] = 100.0
    torch.manual_seed(5)
    again = model(changed, mask)
    assert torch.equal(again.extras["frame_index"], index)
    assert torch.allclose(again.logits, out.logits)
    torch.manual_seed(6)
    assert not torch.equal(model(x, mask).extras["frame_index"], index)


def test_gla_eval_averages_ten_fixed_samples() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=3, frames=40,
                       options={**GLA, "segments": 12}).eval()
    x, mask = _maps(3, 40), _prefix_mask([40, 30, 20], 40)
    with torch.no_grad():
        out = model(x, mask)
        torch.manual_seed(123)  # the global RNG plays no part at test time
        assert torch.equal(model(x, mask).logits, out.logits)

        positions = model.sample_positions(mask, 10)
        assert positions.shape == (10, 3, 12)
        assert len({tuple(p[0].tolist()) for p in positions}) > 1  # ten different samples
        every = torch.ones(3, 12, dtype=torch.bool)
        manual = []
        for sample in positions:
            inputs, _ = model.frame_features(x[torch.arange(3)[:, None], sample])
            manual.append(model.classify(inputs, every)[0])
        assert torch.allclose(out.logits, torch.stack(manual).mean(0), atol=1e-5)

        # A video's test logits do not depend on the batch it came in.
        alone = model(x[1:2], mask[1:2])
        assert torch.allclose(alone.logits, out.logits[1:2], atol=1e-5)


def test_gla_eval_gives_predict_logits_and_every_frames_attention() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=5, frames=16,
                       options={**GLA, "segments": 12})
    model.eval()  # as the Predictor uses it: one padded video of T frames
    x, mask = _maps(1, 16, side=3), _prefix_mask([7], 16)
    with torch.inference_mode():
        out = model(x, mask)
    assert out.logits.shape == (1, 5) and torch.isfinite(out.logits).all()
    assert out.spatial_attention.shape == (1, 16, 9)
    used = out.spatial_attention[0, :7]  # what predict reports: one map per used frame
    assert torch.allclose(used.sum(-1), torch.ones(7), atol=1e-5)


def test_gla_video_with_fewer_frames_than_segments_trains_and_tests() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=3, frames=8,
                       options={**GLA, "segments": 12})
    x, mask = _maps(2, 8), _prefix_mask([5, 8], 8)
    out = model.train()(x, mask)
    assert torch.equal(out.extras["frame_index"][0], torch.linspace(0, 4, 12).round().long())
    model.loss(out, torch.tensor([0, 2])).backward()
    with torch.no_grad():
        assert torch.isfinite(model.eval()(x, None).logits).all()  # no mask: all 8 frames real


def test_gla_multilabel_loss_is_binary_cross_entropy_without_hinges() -> None:
    torch.manual_seed(0)
    model = build_head("gla", in_dim=4, num_classes=3, frames=6,
                       options={**GLA, "segments": 4, "multilabel": True}).train()
    out = model(_maps(2, 6), None)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    loss = model.loss(out, labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        out.logits, labels, reduction="none").sum(1).mean()
    assert torch.isfinite(loss) and torch.allclose(loss, expected)
    loss.backward()
    assert model.la.classifier.weight.grad is not None


# --- Soft attention: windows and the vote ---------------------------------------------------


def test_window_starts_cover_every_stride_and_short_videos_get_one() -> None:
    video, starts = window_starts(torch.tensor([70, 30, 10]), 30, 1)
    assert torch.equal(video, torch.tensor([0] * 41 + [1, 2]))
    assert torch.equal(starts[:41], torch.arange(41)) and starts[41:].tolist() == [0, 0]
    video, starts = window_starts(torch.tensor([70, 75]), 30, 20)
    assert video.tolist() == [0, 0, 0, 1, 1, 1] and starts.tolist() == [0, 20, 40, 0, 20, 40]


def test_window_ranks_pad_a_short_video_by_repeating_its_last_frame() -> None:
    ranks = window_ranks(torch.tensor([0, 5]), torch.tensor([10, 40]), 30)
    assert ranks[0].tolist() == list(range(10)) + [9] * 20
    assert ranks[1].tolist() == list(range(5, 35))


def test_vote_logits_take_the_majority_and_break_ties_by_mean_probability() -> None:
    clips = torch.tensor([
        [0.98, 0.01, 0.01], [0.40, 0.60, 0.00], [0.40, 0.55, 0.05],  # video 0: votes 0, 1, 1
        [0.90, 0.10, 0.00], [0.20, 0.70, 0.10],  # video 1: a 1-1 tie, class 0 more probable
        [0.10, 0.20, 0.70],  # video 2: one clip
    ])
    video = torch.tensor([0, 0, 0, 1, 1, 2])
    logits = vote_logits(clips, video, 3)
    assert logits.argmax(1).tolist() == [1, 0, 2]  # video 0's mean probability favours 0
    probs = logits.exp()
    assert torch.allclose(probs.sum(1), torch.ones(3))
    n = torch.tensor([3.0, 2.0, 1.0])[:, None]
    share = torch.tensor([[1 / 3, 2 / 3, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    mean = torch.stack([clips[:3].mean(0), clips[3:5].mean(0), clips[5]])
    eps = 1 / (n + 2)
    assert torch.allclose(probs, share * (1 - eps) + eps * mean)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([2, 2, 0]))
    assert torch.isfinite(ce)  # no votes for the true class: a finite loss still


def test_vote_is_the_majority_even_with_many_clips() -> None:
    # 501 vs 500 votes against a mean probability strongly favouring the minority.
    clips = torch.cat([torch.tensor([[0.49, 0.51]]).expand(501, 2),
                       torch.tensor([[1.0, 0.0]]).expand(500, 2)])
    logits = vote_logits(clips, torch.zeros(1001, dtype=torch.long), 1)
    assert logits.argmax(1).item() == 1


def _fake_steps(model):
    """Replace the recurrent part: each step's scores are the one-hot class written in its frame
    (feature value, modulo 3), so each window's clip prediction is the class of its last frame."""
    seen = []

    def steps(x, mask):
        seen.append(x)
        b, t = x.shape[:2]
        cls = x[:, :, 0, 0, 0].long() % 3
        scores = torch.nn.functional.one_hot(cls, 3).float() * 10
        alphas = torch.full((b, t, x.shape[3] * x.shape[4]), 1 / (x.shape[3] * x.shape[4]))
        return scores, alphas, torch.ones(b, t, dtype=torch.bool)

    model.step_outputs = steps
    return seen


def test_soft_attention_eval_votes_over_the_windows() -> None:
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=8,
                       options={**SOFT, "window": 2, "last_n": 1}).eval()
    model.eval_chunk_elements = 1  # one window per chunk: the chunking must not matter
    classes = torch.tensor([[0, 1, 1, 1, 2, 0, 0, 0],   # windows end on 1, 1, 1, 2: class 1
                            [2, 0, 2, 2, 0, 0, 0, 0]])  # 4 real frames: 0, 2, 2: class 2
    x = classes[:, :, None, None, None].float().expand(2, 8, 4, 2, 2)
    mask = _prefix_mask([5, 4], 8)
    seen = _fake_steps(model)
    out = model(x, mask)
    assert len(seen) == 4 + 3
    assert out.logits.argmax(1).tolist() == [1, 2]
    assert out.extras["window_video"].tolist() == [0] * 4 + [1] * 3
    assert out.extras["window_start"].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert out.spatial_attention.shape == (2, 8, 4)


def test_soft_attention_short_video_is_padded_with_its_last_frame() -> None:
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=12,
                       options={**SOFT, "window": 30})
    x, mask = _frame_numbered(2, 12), _prefix_mask([7, 12], 12)
    seen = _fake_steps(model)
    for mode in (model.train, model.eval):
        mode()
        seen.clear()
        model(x, mask)
        window = torch.cat(seen)[:, :, 0, 0, 0]
        assert window.shape == (2, 30)
        assert window[0].tolist() == list(range(7)) + [6] * 23
        assert window[1].tolist() == list(range(12)) + [11] * 18


def test_soft_attention_training_takes_one_random_window_of_consecutive_real_frames() -> None:
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=40,
                       options={**SOFT, "window": 10}).train()
    x, mask = _frame_numbered(3, 40), _prefix_mask([40, 25, 10], 40)
    seen = _fake_steps(model)
    starts = set()
    for seed in range(20):
        torch.manual_seed(seed)
        model(x, mask)
        window = seen[-1][:, :, 0, 0, 0]
        assert window.shape == (3, 10)
        assert (window.diff(dim=1) == 1).all()  # consecutive
        assert (window[:, -1] < torch.tensor([40.0, 25.0, 10.0])).all()  # real frames only
        starts.add(int(window[0, 0]))
    assert len(starts) > 5
    torch.manual_seed(3)
    model(x, mask)
    torch.manual_seed(3)
    model(x, mask)
    assert torch.equal(seen[-1], seen[-2])  # the global RNG decides


def test_soft_attention_window_eval_attention_is_the_earliest_windows() -> None:
    torch.manual_seed(0)
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=9,
                       options={**SOFT, "window": 4}).eval()
    x, mask = _maps(1, 9, side=3), _prefix_mask([8], 9)
    with torch.no_grad():
        out = model(x, mask)
        assert out.spatial_attention.shape == (1, 9, 9)
        assert torch.allclose(out.spatial_attention.sum(-1), torch.ones(1, 9), atol=1e-5)
        for t in (0, 2, 5, 7):  # frame t: the window starting at max(0, t − 3), at offset
            start = max(0, t - 3)
            _, alphas, _ = model.step_outputs(x[:, start:start + 4], None)
            assert torch.allclose(out.spatial_attention[0, t], alphas[0, t - start], atol=1e-6)


def test_soft_attention_multilabel_loss_and_averaged_eval() -> None:
    torch.manual_seed(0)
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=10,
                       options={**SOFT, "window": 4, "stride": 2, "last_n": 2,
                                "multilabel": True})
    x, mask = _maps(2, 10), _prefix_mask([10, 6], 10)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    out = model.train()(x, mask)
    loss = model.loss(out, labels)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.att_score.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0

    with torch.no_grad():
        out = model.eval()(x, mask)
        clips = out.extras["clip_logits"]
        video = out.extras["window_video"]
        assert video.tolist() == [0, 0, 0, 0, 1, 1]  # starts 0, 2, 4, 6 and 0, 2
        # As the original (SEEDS §2.2): sigmoid outputs averaged over clips, returned as logits.
        for b in range(2):
            mean = torch.sigmoid(clips[video == b]).mean(0)
            assert torch.allclose(out.logits[b], torch.logit(mean), atol=1e-5)
        # A clip's score: the mean sigmoid output of its last `last_n` steps.
        scores, _, _ = model.step_outputs(x[:1, 2:6], None)
        assert torch.allclose(torch.sigmoid(clips[1]), torch.sigmoid(scores[0, -2:]).mean(0),
                              atol=1e-5)


def test_soft_attention_multilabel_without_windows_averages_step_probabilities() -> None:
    torch.manual_seed(0)
    model = build_head("soft-attention", in_dim=4, num_classes=3, frames=5,
                       options={**SOFT, "multilabel": True, "penalty": 1.0}).eval()
    x, mask = _maps(2, 5), _prefix_mask([5, 3], 5)
    with torch.no_grad():
        out = model(x, mask)
    scores = out.extras["step_scores"]
    assert torch.allclose(torch.sigmoid(out.logits[1]), torch.sigmoid(scores[1, :3]).mean(0),
                          atol=1e-6)
    loss = model.loss(out, torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    assert torch.isfinite(loss)


# --- Through the registry ---------------------------------------------------------------------

NEW_OPTIONS = [
    ("gla", {**GLA, "segments": 4, "test_samples": 3}),
    ("soft-attention", {**SOFT, "window": 4, "stride": 2, "last_n": 2}),
]


@pytest.mark.parametrize(("name", "options"), NEW_OPTIONS, ids=[n for n, _ in NEW_OPTIONS])
def test_seeded_forward_backward_through_the_registry(name: str, options: dict) -> None:
    x, mask, labels = _maps(3, 10), _prefix_mask([10, 7, 3], 10), torch.tensor([0, 2, 1])

    def run() -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        torch.manual_seed(0)
        model = build_head(name, in_dim=4, num_classes=3, frames=10, options=options).train()
        loss = model.loss(model(x, mask), labels)
        loss.backward()
        with torch.no_grad():
            logits = model.eval()(x, mask).logits
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return loss.detach(), grads, logits

    loss, grads, logits = run()
    again, grads_again, logits_again = run()
    assert torch.isfinite(loss) and torch.equal(loss, again)
    assert grads and all(torch.equal(a, b) for a, b in zip(grads, grads_again))
    assert logits.shape == (3, 3) and torch.equal(logits, logits_again)


@pytest.mark.parametrize(("name", "options"), [
    ("gla", {"segments": 0}), ("gla", {"test_samples": 0}),
    ("soft-attention", {"window": 0}), ("soft-attention", {"stride": 0}),
])
def test_bad_protocol_options_are_config_errors(name: str, options: dict) -> None:
    with pytest.raises(ConfigError):
        build_head(name, in_dim=4, num_classes=3, frames=4, options=options)


# --- GLA end to end: its CNN fine-tuned on the frames --------------------------------------------


def test_gla_fine_tunes_its_cnn_from_a_weights_file(easy_dataset, easy_config, tmp_path) -> None:
    from core.backbones import TinyCNN
    from core.config import FeatureConfig, HeadConfig
    from core.experiment import run_experiment
    from core.predict import Predictor
    from core.sampling import Sampling

    torch.manual_seed(3)
    start = TinyCNN().state_dict()
    weights = tmp_path / "tinycnn.pth"
    torch.save(start, weights)
    config = easy_config(easy_dataset, epochs=6, lr=1e-3).with_changes(
        features=FeatureConfig("rgb", input_size=64, sampling=Sampling("fps", fps=1.0)),
        head=HeadConfig("gla", normalize="video",
                        options={"cnn": "tinycnn", "cnn_weights": str(weights), "hidden": 64,
                                 "layers": 1}))
    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0)
    assert result.history[-1]["train_acc"] > result.history[0]["train_acc"]
    trained = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
    conv = "cnn.trunk.0.weight"  # the first conv of the CNN, started from the file, then trained
    assert not torch.equal(trained[conv], start["features.0.weight"])
    # The CNN and everything after it count: the whole network trains.
    assert result.parameters > sum(t.numel() for k, t in start.items() if k.startswith("features")
                                   and "running" not in k and "num_batches" not in k)
    video = sorted((easy_dataset / "grow").glob("*.mp4"))[0]
    weights.unlink()  # the trained model is in the checkpoint; its starting file is not needed
    prediction = Predictor(tmp_path / "run" / "checkpoint.pt", device="cpu").predict(video)
    assert prediction.map_size == (4, 4) and len(prediction.spatial_attention[0]) == 16


def test_gla_fine_tuning_needs_rgb_frames_and_a_cnn(easy_dataset, easy_config) -> None:
    from core.config import HeadConfig
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="--backbone rgb"):
        easy_config(easy_dataset).with_changes(head=HeadConfig("gla", options={"cnn": "tinycnn"}))
    with pytest.raises(ConfigError, match="must be a CNN backbone"):
        HeadConfig("gla", options={"cnn": "pixels"})
    # Checking the options builds on the meta device: no weight file is read for that.
    assert HeadConfig("gla", options={"cnn": "resnet50"}).options["cnn"] == "resnet50"


def test_spatial_heads_need_conv_maps_not_pixels(easy_dataset, easy_config) -> None:
    from core.config import FeatureConfig, HeadConfig
    from core.errors import ConfigError

    for head in ("gla", "soft-attention"):
        with pytest.raises(ConfigError, match="conv maps"):
            easy_config(easy_dataset).with_changes(features=FeatureConfig("pixels"),
                                                   head=HeadConfig(head))
