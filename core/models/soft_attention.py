"""Soft attention over space (Sharma, Kiros & Salakhutdinov, ICLR 2016 workshop).

Input: per-frame conv maps (B, T, C, h, w) (the paper: GoogLeNet 7×7×1024; here any backbone's
cached maps). At each step t, with the previous hidden state h_{t−1} of the top LSTM layer:

    e_{t,i} = u · tanh(W_c x_{t,i} + b + W_d h_{t−1}) + c        i over the h·w locations
    α_t = softmax_i(e_t),     x_t = Σ_i α_{t,i} x_{t,i}

x_t drives an LSTM (``layers`` stacked; the released code had one, the paper describes three) whose
state starts from the mean features: h_0 = tanh(W_s·x̄), c_0 = tanh(W_m·x̄). Each step predicts
tanh(W·h_t) → dropout 0.5 → linear → class scores. The clip's prediction is the mean of the softmax
over its last ``last_n`` real steps (the released code summed them; the argmax is the same).

Training loss, as released: cross-entropy at every real step (the label copied to all steps),
averaged, plus λ·mean_batch Σ_i (1 − Σ_t α_{t,i})², the "doubly stochastic" penalty (``penalty``,
the paper's λ; 0 in all released scripts).
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.registry import HeadOutput, register_head


class SoftAttentionHead(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, frames: int, *, hidden: int = 512,
                 layers: int = 1, attention_dim: int | None = None, dropout: float = 0.5,
                 penalty: float = 0.0, last_n: int | None = None) -> None:
        super().__init__()
        channels = in_dim
        attention_dim = attention_dim or hidden
        self.penalty = penalty
        self.last_n = last_n
        self.init_h = nn.Linear(channels, hidden * layers)
        self.init_c = nn.Linear(channels, hidden * layers)
        self.att_context = nn.Linear(channels, attention_dim)
        self.att_hidden = nn.Linear(hidden, attention_dim, bias=False)
        self.att_score = nn.Linear(attention_dim, 1)
        self.cells = nn.ModuleList(
            [nn.LSTMCell(channels if i == 0 else hidden, hidden) for i in range(layers)])
        self.out_hidden = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.hidden = hidden
        self.layers = layers

    def step_outputs(self, x: torch.Tensor, mask: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(per-step class scores (B, T, K), spatial attention (B, T, L), real-step mask)."""
        b, t = x.shape[:2]
        context = x.flatten(3).transpose(2, 3)  # (B, T, L, C)
        real = mask if mask is not None else torch.ones(b, t, dtype=torch.bool,
                                                        device=x.device)
        weights = real.float()[:, :, None, None]
        mean = (context * weights).sum(dim=(1, 2)) / (weights.sum(dim=(1, 2)).clamp(min=1)
                                                       * context.shape[2])
        h = list(torch.tanh(self.init_h(mean)).split(self.hidden, dim=1))
        c = list(torch.tanh(self.init_c(mean)).split(self.hidden, dim=1))
        projected = self.att_context(context)  # (B, T, L, A): the context side, once
        scores, alphas = [], []
        for step in range(t):
            e = self.att_score(torch.tanh(projected[:, step] + self.att_hidden(h[-1])[:, None]))
            alpha = torch.softmax(e.squeeze(-1), dim=-1)  # (B, L)
            inp = (alpha[..., None] * context[:, step]).sum(dim=1)
            for i, cell in enumerate(self.cells):
                h_new, c_new = cell(inp, (h[i], c[i]))
                keep = real[:, step, None]
                h[i] = torch.where(keep, h_new, h[i])
                c[i] = torch.where(keep, c_new, c[i])
                inp = self.dropout(h[i])
            out = self.dropout(torch.tanh(self.out_hidden(h[-1])))
            scores.append(self.classifier(out))
            alphas.append(alpha)
        return torch.stack(scores, 1), torch.stack(alphas, 1), real

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        scores, alphas, real = self.step_outputs(x, mask)
        chosen = real.clone()
        if self.last_n is not None:
            # Only each clip's last `last_n` real steps vote.
            position = real.long().cumsum(1)
            chosen &= position > (real.sum(1, keepdim=True) - self.last_n)
        weights = chosen.float()[..., None] / chosen.sum(1).clamp(min=1)[:, None, None]
        logits = torch.log((torch.softmax(scores, -1) * weights).sum(1).clamp(min=1e-12))
        return HeadOutput(logits, spatial_attention=alphas,
                          extras={"step_scores": scores, "real": real})

    def loss(self, output: HeadOutput, labels: torch.Tensor) -> torch.Tensor:
        """Per-step loss averaged over the real steps, plus the attention penalty."""
        scores, real = output.extras["step_scores"], output.extras["real"]
        b, t, k = scores.shape
        per_step = nn.functional.cross_entropy(
            scores.reshape(b * t, k), labels[:, None].expand(b, t).reshape(-1),
            reduction="none").view(b, t)
        loss = (per_step * real).sum() / real.sum().clamp(min=1)
        if self.penalty:
            alphas = output.spatial_attention * real[..., None]
            loss = loss + self.penalty * ((1 - alphas.sum(1)) ** 2).sum(-1).mean()
        return loss


@register_head("soft-attention", family="Soft attention (Sharma et al. 2016)",
               reductions=("none",),
               description="LSTM with soft attention over each frame's conv-map locations")
def build_soft_attention(*, in_dim: int, num_classes: int, frames: int, **options) -> nn.Module:
    return SoftAttentionHead(in_dim, num_classes, frames, **options)
