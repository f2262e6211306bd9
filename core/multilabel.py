"""Multi-label metrics exactly as google's YouTube-8M evaluation code defines them
(``eval_util.py``, ``average_precision_calculator.py``).

``predictions`` and ``labels`` are (videos, classes) arrays: scores, and 0/1 ground truth.

- Hit@1: the mean over videos of labels[argmax prediction].
- PERR: for a video with k true labels, the share of true labels among its top-k predictions that
  score above 0; a video with no labels counts 0.
- GAP@20: each video's top 20 (score, label) pairs pooled over all videos, sorted by score (ties
  broken by a seed-0 shuffle before a stable sort); AP = (1/P)·Σ over positive positions i of
  (positives so far)/i, with P all the positive labels of the ground truth.
- mAP: per class, the AP of the top-20-per-video predictions that fell in that class, over all
  positives of that class; classes without positives are left out; the mean of the rest.
"""

from __future__ import annotations

import numpy as np


def hit_at_one(predictions: np.ndarray, labels: np.ndarray) -> float:
    top = np.argmax(predictions, axis=1)
    return float(np.mean(labels[np.arange(len(labels)), top]))


def perr(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Precision at equal recall rate, averaged over videos."""
    total = 0.0
    for scores, truth in zip(predictions, labels):
        k = int(np.sum(truth > 0))
        if k == 0:
            continue  # google's slice [-0:] takes every class, none true: the video adds 0
        top = np.argsort(scores)[-k:]
        total += float(np.sum((truth[top] > 0) & (scores[top] > 0))) / k
    return total / len(predictions)


def _average_precision(scores: np.ndarray, positives: np.ndarray, total_positives: int) -> float:
    """google's AveragePrecisionCalculator.ap_at_n on a pooled list (n = None)."""
    if total_positives <= 0 or len(scores) == 0:
        return 0.0
    order = np.random.RandomState(0).permutation(len(scores))  # the seed-0 tie shuffle
    scores, positives = scores[order], positives[order]
    ranked = np.argsort(-scores, kind="stable")
    hits = positives[ranked] > 0
    seen = np.cumsum(hits)
    precision_at_hits = seen[hits] / (np.flatnonzero(hits) + 1)
    return float(np.sum(precision_at_hits) / total_positives)


def _top_k(predictions: np.ndarray, labels: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each video's top ``k`` as flat (class, score, label) arrays (google's top_k_by_class)."""
    k = min(k, predictions.shape[1])
    top = np.argsort(predictions, axis=1)[:, ::-1][:, :k]
    rows = np.arange(len(predictions))[:, None]
    return top.ravel(), predictions[rows, top].ravel(), labels[rows, top].ravel()


def gap(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20) -> float:
    """Global average precision over the pooled top-``top_k`` predictions of every video."""
    _, scores, truth = _top_k(predictions, labels, top_k)
    return _average_precision(scores, truth, int(np.sum(labels > 0)))


def class_aps(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20) -> list[float | None]:
    """Each class's AP over the top-``top_k``-per-video predictions that fell in it, over all
    positives of that class; None for a class without positives."""
    classes, scores, truth = _top_k(predictions, labels, top_k)
    order = np.argsort(classes, kind="stable")
    bounds = np.searchsorted(classes[order], np.arange(labels.shape[1] + 1))
    positives = np.sum(labels > 0, axis=0)
    aps: list[float | None] = []
    for c in range(labels.shape[1]):
        if positives[c] == 0:
            aps.append(None)  # filter_empty_classes
            continue
        chosen = order[bounds[c]:bounds[c + 1]]
        aps.append(_average_precision(scores[chosen], truth[chosen], int(positives[c])))
    return aps


def mean_ap(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20) -> float:
    """Mean over classes with positives of the per-class AP of the top-``top_k`` predictions."""
    aps = [ap for ap in class_aps(predictions, labels, top_k) if ap is not None]
    return float(np.mean(aps)) if aps else 0.0
