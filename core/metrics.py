"""The metrics record and the single-label metrics.

Single-label metrics: loss, top-1, top-5, per-class accuracy and the confusion matrix
(rows = true class, columns = predicted class). Multi-label data fills the same record differently
(Hit@1/Hit@5, per-class AP, GAP/mAP/PERR in ``extra``); see ``core/tasks.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from core.choices import SELECTION_KEYS


@dataclass
class Metrics:
    """Metrics over one set of videos. ``per_class`` holds None for classes with no video.

    ``task`` is ``single-label`` or ``multi-label``; ``extra`` holds the multi-label metrics
    (``gap``, ``map``, ``perr``).
    """

    count: int
    loss: float
    top1: float
    top5: float
    per_class: list[float | None] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    task: str = "single-label"
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """What model selection maximises: top-1 accuracy, or mAP for multi-label data."""
        return self.summary()[SELECTION_KEYS[self.task]]

    def summary(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}loss": self.loss, f"{prefix}acc": self.top1, f"{prefix}top5": self.top5,
                **{f"{prefix}{key}": value for key, value in self.extra.items()}}

    def to_dict(self) -> dict:
        return asdict(self)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
    """Metrics of ``logits`` (N, C) against integer ``labels`` (N,)."""
    logits = logits.float()
    count = int(labels.shape[0])
    if count == 0:
        return Metrics(0, float("nan"), float("nan"), float("nan"), [None] * num_classes,
                       [[0] * num_classes for _ in range(num_classes)])
    loss = nn.functional.cross_entropy(logits, labels).item()
    k = min(5, num_classes)
    topk = logits.topk(k, dim=1).indices
    top1 = (topk[:, 0] == labels).float().mean().item()
    top5 = (topk == labels[:, None]).any(dim=1).float().mean().item()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, topk[:, 0]), torch.ones(count, dtype=torch.long), accumulate=True)
    totals = confusion.sum(dim=1)
    per_class = [
        (confusion[c, c].item() / totals[c].item()) if totals[c] > 0 else None
        for c in range(num_classes)
    ]
    return Metrics(count, loss, top1, top5, per_class, confusion.tolist())
