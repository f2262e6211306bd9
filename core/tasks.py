"""Single-label and multi-label classification: the loss, the batch score and the metrics of each.

A :class:`~core.sequences.SequenceSet` says which task it is by its labels: integer class indices
(N,) for single-label data (UCF-101, HMDB-51, Kinetics, ...), a float multi-hot matrix (N, C) for
multi-label data (Hollywood2, YouTube-8M). :func:`task_for` picks the task from the labels, so the
training loop and the evaluation pass need no flag.

Multi-label, as YouTube-8M's starter code: per-class sigmoid, the loss is the binary cross-entropy
summed over classes and averaged over videos; the reported "top-1" is Hit@1 and "top-5" Hit@5;
GAP@20, mAP and PERR are in :attr:`Metrics.extra`; ``per_class`` holds each class's AP; the best
checkpoint is chosen by mAP (the Hollywood2 metric).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core import multilabel
from core.metrics import Metrics, classification_metrics


class SingleLabel:
    name = "single-label"

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), labels)

    @staticmethod
    def hit_count(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """How many videos of the batch the top-scoring class gets right, as a tensor on the
        logits' device (reading it is the caller's choice: a host sync on a GPU)."""
        return (logits.argmax(dim=1) == labels).sum()

    @classmethod
    def hits(cls, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """:meth:`hit_count` as a number."""
        return int(cls.hit_count(logits, labels).item())

    @staticmethod
    def metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
        return classification_metrics(logits, labels, num_classes)

    @staticmethod
    def probabilities(logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)


class MultiLabel:
    name = "multi-label"

    @staticmethod
    def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        per_class = nn.functional.binary_cross_entropy_with_logits(
            logits.float(), labels.float(), reduction="none")
        return per_class.sum(dim=1).mean()

    @staticmethod
    def hit_count(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """How many videos of the batch have a true label as their top-scoring class (Hit@1),
        as a tensor on the logits' device."""
        top = logits.argmax(dim=1)
        return (labels.gather(1, top[:, None]) > 0).sum()

    @classmethod
    def hits(cls, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """:meth:`hit_count` as a number."""
        return int(cls.hit_count(logits, labels).item())

    @staticmethod
    def metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
        return multilabel_metrics(logits, labels, num_classes)

    @staticmethod
    def accumulator(num_classes: int) -> MultiLabelAccumulator:
        """Metrics of batches that arrive one after another (a streamed evaluation set)."""
        return MultiLabelAccumulator(num_classes)

    @staticmethod
    def probabilities(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())


# A task is one of the two classes above, used through their static methods.
Task = type[SingleLabel] | type[MultiLabel]


def task_for(labels: torch.Tensor) -> Task:
    """The task whose labels these are: (N,) integers or (N, C) multi-hot."""
    return MultiLabel if labels.dim() == 2 else SingleLabel


def multilabel_metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
    """Hit@1 (as ``top1``), Hit@5 (``top5``), the loss, per-class AP and, in ``extra``, GAP@20,
    mAP and PERR, as google's YouTube-8M evaluation code computes them."""
    count = int(labels.shape[0])
    if count == 0:
        nan = float("nan")
        return Metrics(0, nan, nan, nan, [None] * num_classes, [], task=MultiLabel.name,
                       extra={"gap": nan, "map": nan, "perr": nan})
    scores = torch.sigmoid(logits.float()).numpy()
    truth = labels.float().numpy()
    k = min(5, num_classes)
    top = np.argsort(-scores, axis=1)[:, :k]
    hit5 = float(np.mean(truth[np.arange(count)[:, None], top].max(axis=1) > 0))
    per_class = multilabel.class_aps(scores, truth)
    return Metrics(
        count=count,
        loss=MultiLabel.loss(logits, labels).item(),
        top1=multilabel.hit_at_one(scores, truth),
        top5=hit5,
        per_class=per_class,
        confusion=[],
        task=MultiLabel.name,
        extra={"gap": multilabel.gap(scores, truth),
               "map": multilabel.mean_of_class_aps(per_class),
               "perr": multilabel.perr(scores, truth)},
    )


class MultiLabelAccumulator:
    """:func:`multilabel_metrics` of a set fed batch after batch, holding each video's top 20
    only (:class:`core.multilabel.TopK`): GAP and the per-class APs (so mAP) are those of the whole
    set exactly; the loss, Hit@1, Hit@5 and PERR up to the order of additions."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.top = multilabel.TopK(num_classes)
        self.loss_sum = 0.0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        if len(labels) == 0:
            return
        logits, labels = logits.detach().float().cpu(), labels.detach().float().cpu()
        self.loss_sum += MultiLabel.loss(logits, labels).item() * len(labels)
        self.top.add(torch.sigmoid(logits).numpy(), labels.numpy())

    def metrics(self) -> Metrics:
        count = self.top.count
        if count == 0:
            return multilabel_metrics(torch.zeros(0, self.num_classes),
                                      torch.zeros(0, self.num_classes), self.num_classes)
        gap, per_class = self.top.results()
        return Metrics(
            count=count, loss=self.loss_sum / count, top1=self.top.hit1 / count,
            top5=self.top.hit5 / count, per_class=per_class, confusion=[],
            task=MultiLabel.name,
            extra={"gap": gap, "map": multilabel.mean_of_class_aps(per_class),
                   "perr": self.top.perr / count})
