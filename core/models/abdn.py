"""The three ABDN heads (You & Korhonen, ICIP 2020): bi-LSTM with an optional temporal attention block.

Input: per-frame features (B, T, D), e.g. VGG16's flattened 7×7×512 conv map (D = 25,088).

- ``cnn-lstm``: bi-LSTM(256) → [forward h_T, backward h_1] → Dense(512)+ReLU → Dropout(0.5) → Dense(C)
- ``cnn-attention-lstm``: attention block over (T, D) → the ``cnn-lstm`` head
- ``cnn-lstm-attention``: bi-LSTM(256) returning sequences (T, 512) → attention block → flatten T·512
  → Dense(512)+ReLU → Dropout(0.5) → Dense(C)

The attention block is a T×T dense layer with a softmax over time, shared by all feature channels:
for each channel f, a_f = softmax_t(x_f·W + b), and the output is x ⊙ a (nothing is summed). Unlike
the original code, the hyphenated mode names select the attention models (the original compared them
with underscored strings and silently trained ``cnn-lstm``). Initialisation follows Keras 2.2.4
(Glorot-uniform kernels, orthogonal recurrent kernels, forget-gate bias 1); the LSTM gates use
PyTorch's sigmoid, where Keras 2.2.4 used a hard sigmoid.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn

from core.models.lstm import BiLSTM
from core.models.registry import HeadOutput, TemporalHead, register_head


class AttentionMode(str, Enum):
    """Where the ABDN attention block sits."""

    LSTM = "cnn-lstm"
    LSTM_ATTENTION = "cnn-lstm-attention"
    ATTENTION_LSTM = "cnn-attention-lstm"


class TemporalAttention(nn.Module):
    """ABDN's attention block: per-channel softmax over time from one shared T×T dense layer.

    Input (B, T, F) and an optional mask (B, T) of real frames; returns the reweighted (B, T, F)
    sequence and the weights (B, T, F), each channel's weights summing to 1 over the real frames.
    """

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.dense = nn.Linear(frames, frames)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.dense(x.transpose(1, 2))  # (B, F, T): each channel's time series → T scores
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(x.dtype).transpose(1, 2)
        return x * weights, weights


class ABDNHead(TemporalHead):
    """One of the three ABDN heads; see the module docstring for the layer sequence."""

    def __init__(self, mode: AttentionMode | str, *, in_dim: int, num_classes: int, frames: int,
                 hidden: int = 256, dense: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.mode = AttentionMode(mode)
        self.frames = frames
        self.pre_attention = (TemporalAttention(frames)
                              if self.mode is AttentionMode.ATTENTION_LSTM else None)
        self.lstm = BiLSTM(in_dim, hidden)
        self.post_attention = (TemporalAttention(frames)
                               if self.mode is AttentionMode.LSTM_ATTENTION else None)
        fc_in = frames * 2 * hidden if self.post_attention is not None else 2 * hidden
        self.fc = nn.Linear(fc_in, dense)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dense, num_classes)
        keras_init_(self)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        attention = None
        if self.pre_attention is not None:
            x, weights = self.pre_attention(x, mask)
            attention = weights.mean(dim=-1)
        # Keras' Bidirectional(return_sequences=False) concatenates the forward state after the
        # last step and the backward state after the first step: h_n, not output[:, -1].
        sequence, final = self.lstm(x, mask)
        if self.post_attention is None:
            features = final
        else:
            sequence, weights = self.post_attention(sequence, mask)
            attention = weights.mean(dim=-1)
            features = sequence.flatten(1)
        hidden = self.dropout(torch.relu(self.fc(features)))
        return HeadOutput(self.classifier(hidden), attention=attention)


def keras_init_(module: nn.Module) -> None:
    """Initialise like Keras 2.2.4: Glorot-uniform kernels, zero biases, orthogonal recurrent
    kernels and forget-gate bias 1. Tensors on the meta device (parameter counting) are skipped."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            if sub.weight.is_meta:
                continue
            nn.init.xavier_uniform_(sub.weight)
            nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LSTM):
            hidden = sub.hidden_size
            for name, param in sub.named_parameters():
                if param.is_meta:
                    continue
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias_ih"):
                    nn.init.zeros_(param)
                    with torch.no_grad():
                        param[hidden:2 * hidden] = 1.0  # gate order i, f, g, o
                else:
                    nn.init.zeros_(param)


def _register(mode: AttentionMode, description: str) -> None:
    @register_head(mode.value, family="abdn", in_abdn_grid=True, description=description)
    def build(*, in_dim: int, num_classes: int, frames: int, hidden: int = 256, dense: int = 512,
              dropout: float = 0.5) -> ABDNHead:
        return ABDNHead(mode, in_dim=in_dim, num_classes=num_classes, frames=frames,
                        hidden=hidden, dense=dense, dropout=dropout)


_register(AttentionMode.LSTM, "ABDN bi-LSTM, no attention")
_register(AttentionMode.LSTM_ATTENTION, "ABDN bi-LSTM, then temporal attention, flattened")
_register(AttentionMode.ATTENTION_LSTM, "ABDN temporal attention on the features, then bi-LSTM")
