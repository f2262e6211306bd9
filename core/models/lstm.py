"""A bidirectional LSTM layer that is fast on the CPU and uses cuDNN on the GPU.

PyTorch's CPU ``nn.LSTM`` is several times slower than the matrix products it needs when the input
is wide (ABDN feeds 2k–100k-dimensional conv maps). On the CPU this module computes the input
projection of every time step and both directions in one matrix product, then runs the cheap
recurrence step by step. The parameters are those of an ``nn.LSTM`` (same names, same count, same
state dict), and on CUDA the ``nn.LSTM`` itself runs.

Padding: with a mask (B, T) of real frames, padded steps leave the state unchanged and output
zeros, so the forward direction's final state is the state after the last real frame and the
backward direction starts at each sequence's own last real frame, as with packed sequences.
"""

from __future__ import annotations

import torch
from torch import nn


class BiLSTM(nn.Module):
    """Bidirectional single-layer LSTM over (B, T, D), batch first.

    :meth:`forward` returns (outputs (B, T, 2H), final states (B, 2H) = [forward h_T, backward h_1]).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.is_cuda:
            return self._cudnn(x, mask)
        return self._fused(x, mask)

    def _cudnn(self, x: torch.Tensor, mask: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if mask is None:
            output, (h_n, _) = self.lstm(x)
            return output, torch.cat([h_n[0], h_n[1]], dim=1)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        output, (h_n, _) = self.lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True,
                                                     total_length=x.shape[1])
        return output, torch.cat([h_n[0], h_n[1]], dim=1)

    def _fused(self, x: torch.Tensor, mask: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        lstm = self.lstm
        batch, steps, _ = x.shape
        hidden = self.hidden_size
        weight_ih = torch.cat([lstm.weight_ih_l0, lstm.weight_ih_l0_reverse])
        bias = torch.cat([lstm.bias_ih_l0 + lstm.bias_hh_l0,
                          lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse])
        gates_in = torch.addmm(bias, x.reshape(batch * steps, -1), weight_ih.t())
        gates_in = gates_in.view(batch, steps, 2, 4 * hidden)
        forward_in = gates_in[:, :, 0]
        backward_in = gates_in[:, :, 1]
        if mask is not None:
            backward_in = _reverse_padded(backward_in, mask)
            step_mask = mask.to(x.dtype).unsqueeze(-1)
        forward_out, forward_h = self._scan(forward_in, lstm.weight_hh_l0,
                                            None if mask is None else step_mask)
        backward_out, backward_h = self._scan(
            backward_in if mask is not None else backward_in.flip(1), lstm.weight_hh_l0_reverse,
            None if mask is None else step_mask)
        backward_out = (_reverse_padded(backward_out, mask) if mask is not None
                        else backward_out.flip(1))
        return torch.cat([forward_out, backward_out], dim=2), torch.cat([forward_h, backward_h], 1)

    def _scan(self, gates_in: torch.Tensor, weight_hh: torch.Tensor,
              step_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = gates_in.shape
        h = gates_in.new_zeros(batch, self.hidden_size)
        c = gates_in.new_zeros(batch, self.hidden_size)
        outputs = []
        for t in range(steps):
            gates = gates_in[:, t] + h @ weight_hh.t()
            i, f, g, o = gates.chunk(4, dim=1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            if step_mask is None:
                h, c = h_new, c_new
                outputs.append(h)
            else:
                m = step_mask[:, t]
                h = m * h_new + (1 - m) * h
                c = m * c_new + (1 - m) * c
                outputs.append(m * h_new)
        return torch.stack(outputs, dim=1), h


def _reverse_padded(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length, leaving the padding where it is."""
    steps = x.shape[1]
    lengths = mask.sum(dim=1, keepdim=True)
    positions = torch.arange(steps, device=x.device).unsqueeze(0)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))
