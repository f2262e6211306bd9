"""GLA with the original's SRU (``-o rnn=sru``, the optional sru package): a clear error without
the package; with it, a 3-layer SRU per stream that trains on the CPU."""

from __future__ import annotations

import sys

import pytest
import torch

from core.errors import ConfigError
from core.models.registry import build_head

OPTIONS = {"rnn": "sru", "hidden": 16, "layers": 3}


def _maps(generator: torch.Generator) -> torch.Tensor:
    return torch.randn(4, 5, 8, 3, 3, generator=generator)  # (B, T, C, h, w)


def test_rnn_sru_without_the_package_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sru", None)  # `import sru` raises ImportError
    with pytest.raises(ConfigError, match="sru package") as caught:
        build_head("gla", in_dim=8, num_classes=3, frames=5, options=OPTIONS)
    assert ".[sru]" in (caught.value.hint or "")


def test_gla_rnn_must_be_a_known_recurrent_model() -> None:
    with pytest.raises(ConfigError, match="lstm, gru or sru"):
        build_head("gla", in_dim=8, num_classes=3, frames=5, options={"rnn": "rnn"})


def test_gla_with_sru_is_the_originals_recurrent_model_and_trains() -> None:
    sru = pytest.importorskip("sru")
    torch.manual_seed(0)
    model = build_head("gla", in_dim=8, num_classes=3, frames=5,
                       options={**OPTIONS, "dropout": 0.0})
    for stream in (model.gp, model.sa, model.la):
        inner = stream.rnn.sru
        assert isinstance(inner, sru.SRU) and inner.num_layers == 3
        assert inner.hidden_size == 16 and not inner.bidirectional
        assert all(layer.rescale for layer in inner.rnn_lst)
    generator = torch.Generator().manual_seed(1)
    maps, labels = _maps(generator), torch.tensor([0, 1, 2, 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(30):
        loss = model.loss(model(maps), labels)
        optimizer.zero_grad()
        loss.backward()
        assert model.gp.rnn.sru.rnn_lst[0].weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():  # the inference kernel (the compiled CPU one) agrees with training's
        inference = model(maps).logits
    model.gp.rnn.sru.eval()
    with torch.enable_grad():
        recurrence = model(maps).logits.detach()
    assert torch.allclose(inference, recurrence, atol=1e-5)


def test_a_config_with_rnn_sru_is_checked_when_it_is_made() -> None:
    pytest.importorskip("sru")
    from core.config import HeadConfig

    assert HeadConfig("gla", options=OPTIONS).options["rnn"] == "sru"
    with pytest.raises(ConfigError, match="bad value for an option of head .gla."):
        HeadConfig("gla", options={**OPTIONS, "layers": "three"})
