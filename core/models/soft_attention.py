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

Sliding windows (``window``, the paper: 30; off by default, when the head reads the whole padded
sequence as one clip). The original cut each video into windows of ``window`` consecutive frames,
videos shorter than a window padded by repeating their last frame (the repeats count as real steps):

- training: each video gives one window per forward, its start drawn uniformly over every start
  position (stride 1) from torch's global RNG. The original trained on every start position,
  shuffled each epoch; one random window per video per epoch samples the same distribution.
  The output then covers the window's steps: ``spatial_attention`` (B, window, h·w) and
  ``extras["step_scores"]`` / ``extras["real"]`` for the loss.
- eval: every window with stride ``stride`` over the real frames (a short video: one padded
  window). Each window is classified as a clip (above), its prediction the argmax, and the video's
  prediction is the mode (majority vote) of its clips'. The returned logits are

      logits = log(v·(1 − ε) + ε·p̄),    ε = 1 / (n + 2)

  with v the share of the video's n windows voting for each class and p̄ the mean clip
  probability: a distribution whose argmax is the majority vote, ties broken by p̄ (ε < 1/(n + 1)
  keeps one vote more than any probability difference), and whose cross-entropy stays finite.
  ``spatial_attention`` (B, T, h·w) gives frame t the attention it got in the first (earliest)
  window containing it; frames no window covered (a stride longer than the window, the tail
  beyond the last stride, padding) get uniform weights.

Multi-label data (``multilabel``, labels a float multi-hot (B, K)): the per-step scores are
per-class sigmoid logits; as in the original, a clip's score is the mean sigmoid output of its last
``last_n`` steps and, with windows, a video's is the mean over its clips (returned as logits).
The loss is the binary cross-entropy with logits at every real step, summed over classes as in the
original, averaged over steps and videos, plus the same penalty; it follows the labels' shape.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.registry import HeadOutput, TemporalHead, register_head
from core.tasks import Task


def real_frame_order(real: torch.Tensor) -> torch.Tensor:
    """(B, T) frame positions with each video's real frames first, in time order: entry r of a row
    is the position of that video's r-th real frame."""
    return torch.argsort((~real).to(torch.uint8), dim=1, stable=True)


def window_starts(n_real: torch.Tensor, window: int, stride: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of every video: (video index (N,), start rank (N,)), videos in order, starts
    0, stride, … ≤ n_real − window; a video of at most ``window`` real frames has one window."""
    count = (n_real - window).clamp(min=0) // stride + 1
    video = torch.repeat_interleave(torch.arange(len(n_real), device=n_real.device), count)
    first = count.cumsum(0) - count
    return video, (torch.arange(len(video), device=n_real.device) - first[video]) * stride


def window_ranks(starts: torch.Tensor, n_real: torch.Tensor, window: int) -> torch.Tensor:
    """(N, window) real-frame ranks of windows starting at ``starts``; past a video's last real
    frame the last one repeats (the original's padding of short videos)."""
    ranks = starts[:, None] + torch.arange(window, device=starts.device)
    return torch.minimum(ranks, (n_real - 1)[:, None])


def vote_logits(clip_probs: torch.Tensor, video: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-video logits from clip probabilities (N, K) of windows belonging to ``video`` (N,):
    log(v·(1 − ε) + ε·p̄), v the vote shares of the clips' argmaxes, p̄ the mean clip probability,
    ε = 1/(n + 2) for a video of n clips. The argmax is the majority vote, ties broken by p̄."""
    count = torch.bincount(video, minlength=batch).clamp(min=1).to(clip_probs.dtype)[:, None]
    votes = nn.functional.one_hot(clip_probs.argmax(1), clip_probs.shape[1]).to(clip_probs.dtype)
    share = torch.zeros(batch, clip_probs.shape[1], dtype=clip_probs.dtype,
                        device=clip_probs.device).index_add_(0, video, votes) / count
    mean = torch.zeros_like(share).index_add_(0, video, clip_probs) / count
    eps = 1 / (count + 2)
    return torch.log((share * (1 - eps) + eps * mean).clamp(min=1e-12))


def frame_attention(alphas: torch.Tensor, video: torch.Tensor, n_real: torch.Tensor,
                    order: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, T, L) spatial attention per frame position from the windows' (N, window, L): each real
    frame gets its weights from the earliest window containing it; frames no window covers get
    uniform weights."""
    window, locations = alphas.shape[1:]
    b, t = order.shape
    count = torch.bincount(video, minlength=b)
    first = count.cumsum(0) - count
    rank = torch.arange(t, device=order.device).expand(b, t)
    k = ((rank - window + 1).clamp(min=0) + stride - 1) // stride  # earliest window with rank
    offset = rank - k * stride
    covered = ((rank < n_real[:, None]) & (k < count[:, None]) & (offset >= 0)
               & (offset < window))
    index = (first[:, None] + k.clamp(max=(count - 1).clamp(min=0)[:, None]))
    picked = alphas[index.clamp(max=len(alphas) - 1), offset.clamp(0, window - 1)]
    ranked = torch.where(covered[..., None], picked, torch.full_like(picked, 1 / locations))
    return torch.empty_like(ranked).scatter_(1, order[..., None].expand(-1, -1, locations), ranked)


class SoftAttentionHead(TemporalHead):
    #: how many feature values one chunk of eval windows may gather (windows are batched)
    eval_chunk_elements = 2 ** 25

    def __init__(self, in_dim: int, num_classes: int, frames: int, *, hidden: int = 512,
                 layers: int = 1, attention_dim: int | None = None, dropout: float = 0.5,
                 penalty: float = 0.0, last_n: int | None = None, window: int | None = None,
                 stride: int = 1, multilabel: bool = False) -> None:
        super().__init__()
        if window is not None and int(window) < 1:
            raise ValueError(f"window must be a positive number of frames, not {window!r}")
        if int(stride) < 1:
            raise ValueError(f"stride must be at least 1, not {stride!r}")
        channels = in_dim
        attention_dim = attention_dim or hidden
        self.penalty = penalty
        self.last_n = last_n
        self.window = None if window is None else int(window)
        self.stride = int(stride)
        self.multilabel = bool(multilabel)
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

    def clip_logits(self, scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """A clip's logits from its per-step scores: the log of the mean softmax over its last
        ``last_n`` real steps, or (multi-label) the mean of those steps' scores."""
        chosen = real.clone()
        if self.last_n is not None:
            # Only each clip's last `last_n` real steps vote.
            position = real.long().cumsum(1)
            chosen &= position > (real.sum(1, keepdim=True) - self.last_n)
        weights = chosen.float()[..., None] / chosen.sum(1).clamp(min=1)[:, None, None]
        if self.multilabel:  # the mean sigmoid output, as its logit
            return torch.logit((torch.sigmoid(scores) * weights).sum(1), eps=1e-6)
        return torch.log((torch.softmax(scores, -1) * weights).sum(1).clamp(min=1e-12))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> HeadOutput:
        if self.window is not None:
            b, t = x.shape[:2]
            real = mask if mask is not None else torch.ones(b, t, dtype=torch.bool,
                                                            device=x.device)
            if not self.training:
                return self.windowed_eval(x, real)
            n_real = real.sum(1).clamp(min=1)
            last = (n_real - self.window).clamp(min=0)  # the last start of a full window
            draws = torch.rand(b).to(x.device)  # the CPU global RNG, which the loop seeds
            starts = torch.minimum((draws * (last + 1)).floor().long(), last)
            positions = real_frame_order(real).gather(
                1, window_ranks(starts, n_real, self.window))
            x, mask = x[torch.arange(b, device=x.device)[:, None], positions], None
        scores, alphas, real = self.step_outputs(x, mask)
        return HeadOutput(self.clip_logits(scores, real), spatial_attention=alphas,
                          extras={"step_scores": scores, "real": real})

    def windowed_eval(self, x: torch.Tensor, real: torch.Tensor) -> HeadOutput:
        """Every window (stride ``stride``) of every video classified, then combined per video: a
        majority vote, or (multi-label) the mean of the clips' logits."""
        b, t, c, h, w = x.shape
        n_real = real.sum(1).clamp(min=1)
        video, starts = window_starts(n_real, self.window, self.stride)
        order = real_frame_order(real)
        per_chunk = max(1, self.eval_chunk_elements // (self.window * c * h * w))
        every = torch.ones(1, self.window, dtype=torch.bool, device=x.device)
        clip_logits, alphas = [], []
        for first in range(0, len(video), per_chunk):
            rows, begin = video[first:first + per_chunk], starts[first:first + per_chunk]
            positions = order[rows].gather(1, window_ranks(begin, n_real[rows], self.window))
            scores, alpha, _ = self.step_outputs(x[rows[:, None], positions], None)
            clip_logits.append(self.clip_logits(scores, every.expand(len(rows), -1)))
            alphas.append(alpha)
        clips = torch.cat(clip_logits).float()
        if self.multilabel:  # the mean over clips of their mean sigmoid outputs
            count = torch.bincount(video, minlength=b).clamp(min=1)
            probs = torch.zeros(b, clips.shape[1], device=x.device).index_add_(
                0, video, torch.sigmoid(clips)) / count[:, None]
            logits = torch.logit(probs, eps=1e-6)
        else:
            logits = vote_logits(clips.exp(), video, b)
        spatial = frame_attention(torch.cat(alphas), video, n_real, order, self.stride)
        return HeadOutput(logits, spatial_attention=spatial,
                          extras={"clip_logits": clips, "window_video": video,
                                  "window_start": starts})

    def loss(self, output: HeadOutput, labels: torch.Tensor, task: Task | None = None
             ) -> torch.Tensor:
        """Per-step loss averaged over the real steps, plus the attention penalty; labels (B,) are
        class indices, (B, K) multi-hot."""
        scores, real = output.extras["step_scores"], output.extras["real"]
        b, t, k = scores.shape
        if labels.dim() == 2:  # multi-hot: a sigmoid per class, summed over classes
            per_step = nn.functional.binary_cross_entropy_with_logits(
                scores.float(), labels[:, None].expand(b, t, k).float(),
                reduction="none").sum(-1)
        else:
            per_step = nn.functional.cross_entropy(
                scores.reshape(b * t, k), labels[:, None].expand(b, t).reshape(-1),
                reduction="none").view(b, t)
        loss = (per_step * real).sum() / real.sum().clamp(min=1)
        if self.penalty:
            alphas = output.spatial_attention * real[..., None]
            loss = loss + self.penalty * ((1 - alphas.sum(1)) ** 2).sum(-1).mean()
        return loss


@register_head("soft-attention", family="Soft attention (Sharma et al. 2016)",
               reductions=("none",), task_aware=True,
               description="LSTM with soft attention over each frame's conv-map locations")
def build_soft_attention(*, in_dim: int, num_classes: int, frames: int,
                         **options) -> SoftAttentionHead:
    return SoftAttentionHead(in_dim, num_classes, frames, **options)
