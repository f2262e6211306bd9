"""core/multilabel.py against google's YouTube-8M evaluation procedure on random cases with heavy
ties, empty label rows and never-positive classes.

The oracle below follows google's ``eval_util.py``, ``average_precision_calculator.py`` and
``mean_average_precision_calculator.py`` step by step, with plain loops (numpy only, no
TensorFlow): per video ``argpartition`` top k, per-class lists in video order, a heap of
(score, label) pairs pushed one at a time, the heap's array order shuffled by ``random.seed(0)``
and ``random.sample``, then Python's stable ``sorted(..., reverse=True)``. It keeps counts in
double precision (``float(...)``), as google's code computed under NumPy 1.x.
"""

from __future__ import annotations

import heapq
import math
import random

import numpy as np
import pytest

from core import multilabel


class _OracleAP:
    """AveragePrecisionCalculator with top_n None: accumulate, then peek_ap_at_n."""

    def __init__(self) -> None:
        self.heap: list = []
        self.positives = 0.0

    def accumulate(self, predictions: list, actuals: list, num_positives: float) -> None:
        self.positives += float(num_positives)
        for index in range(len(predictions)):
            heapq.heappush(self.heap, (predictions[index], actuals[index]))

    def peek(self) -> float:
        if len(self.heap) <= 0:
            return 0.0
        columns = np.array(list(zip(*self.heap)))
        scores, actuals = columns[0], columns[1]
        generator = random.Random(0)  # the same stream as random.seed(0)
        picked = generator.sample(range(len(scores)), len(scores))
        scores, actuals = scores[picked], actuals[picked]
        ranked = sorted(range(len(scores)), key=lambda j: scores[j], reverse=True)
        if self.positives == 0:
            return 0.0
        step = 1.0 / self.positives
        found, ap = 0.0, 0.0
        for i in range(len(ranked)):
            if actuals[ranked[i]] > 0:
                found += 1
                ap += found / (i + 1) * step
        return ap


def _oracle_by_class(predictions: np.ndarray, labels: np.ndarray, k: int):
    """top_k_by_class: per-class lists of the top-k entries, and each class's positives."""
    classes = predictions.shape[1]
    k = min(k, classes)
    triplets = []
    for video in range(predictions.shape[0]):
        row = predictions[video]
        for index in np.argpartition(row, -k)[-k:]:
            triplets.append((index, row[index], labels[video][index]))
    by_class: list[list] = [[] for _ in range(classes)]
    truth_by_class: list[list] = [[] for _ in range(classes)]
    for index, score, label in triplets:
        by_class[index].append(score)
        truth_by_class[index].append(label)
    positives = [np.sum(labels[:, c]) for c in range(classes)]
    return by_class, truth_by_class, positives


def _joined(lists: list[list]) -> list:
    return [item for sub in lists for item in sub]


def oracle_gap(predictions: np.ndarray, labels: np.ndarray, k: int = 20,
               batch: int | None = None) -> float:
    """calculate_gap (batch None) or EvaluationMetrics' GAP fed ``batch`` videos at a time."""
    calculator = _OracleAP()
    size = batch or max(len(predictions), 1)
    for start in range(0, len(predictions), size):
        scores, truth, positives = _oracle_by_class(predictions[start:start + size],
                                                    labels[start:start + size], k)
        calculator.accumulate(_joined(scores), _joined(truth), sum(float(p) for p in positives))
    return calculator.peek()


def oracle_class_aps(predictions: np.ndarray, labels: np.ndarray, k: int = 20) -> list:
    """MeanAveragePrecisionCalculator(filter_empty_classes=True).peek_map_at_n, with None kept
    in place of each filtered class."""
    scores, truth, positives = _oracle_by_class(predictions, labels, k)
    out = []
    for c in range(predictions.shape[1]):
        calculator = _OracleAP()
        calculator.accumulate(scores[c], truth[c], positives[c])
        out.append(calculator.peek() if calculator.positives > 0 else None)
    return out


def oracle_map(predictions: np.ndarray, labels: np.ndarray, k: int = 20) -> float:
    aps = [ap for ap in oracle_class_aps(predictions, labels, k) if ap is not None]
    return float(np.mean(aps)) if aps else math.nan  # numpy.mean([]) is nan


def oracle_perr(predictions: np.ndarray, labels: np.ndarray) -> float:
    total = 0.0
    for row in range(labels.shape[0]):
        count = int(np.sum(labels[row]))
        top = np.argpartition(predictions[row], -count)[-count:]
        precision = 0.0
        for index in top:
            if predictions[row][index] > 0:
                precision += float(labels[row][index])
        total += precision / top.size
    return total / labels.shape[0]


def oracle_hit_at_one(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.average(labels[np.arange(labels.shape[0]), np.argmax(predictions, 1)]))


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A random (predictions, labels, k) with many tied scores."""
    rng = np.random.default_rng(seed)
    videos, classes = int(rng.integers(1, 40)), int(rng.integers(2, 30))
    kind = seed % 4
    if kind == 0:  # a few score levels
        levels = int(rng.integers(1, 6))
        scores = np.round(rng.random((videos, classes)) * levels) / levels
    elif kind == 1:  # float32 sigmoid of wide logits: exact 0s and 1s, and repeats
        scores = 1 / (1 + np.exp(-rng.normal(0, 40, (videos, classes))))
    elif kind == 2:  # all tied
        scores = np.full((videos, classes), float(rng.random()))
    else:  # float32 sigmoid of coarse logits
        logits = np.round(rng.normal(-1, 2, (videos, classes))).astype(np.float32)
        scores = np.float32(1) / (np.float32(1) + np.exp(-logits))
    labels = (rng.random((videos, classes)) < rng.uniform(0.02, 0.5)).astype(np.float32)
    labels[rng.random(videos) < 0.3] = 0  # videos without labels
    labels[:, rng.random(classes) < 0.3] = 0  # classes never positive
    if seed % 23 == 0:
        labels[:] = 0
    k = int(rng.choice([1, 2, 3, 5, 20, classes + 3]))
    return scores.astype(np.float32), labels, k


def _close(ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return ours is theirs
    if math.isnan(theirs):
        return math.isnan(ours)
    return abs(ours - theirs) <= 1e-9


@pytest.mark.parametrize("seed", range(240))
def test_metrics_equal_googles_procedure(seed: int) -> None:
    predictions, labels, k = _case(seed)
    assert _close(multilabel.gap(predictions, labels, top_k=k), oracle_gap(predictions, labels, k))
    batch = 1 + seed % 7
    assert _close(multilabel.gap(predictions, labels, top_k=k, batch_size=batch),
                  oracle_gap(predictions, labels, k, batch))
    ours = multilabel.class_aps(predictions, labels, k)
    assert all(_close(a, b) for a, b in zip(ours, oracle_class_aps(predictions, labels, k),
                                            strict=True))
    assert _close(multilabel.mean_ap(predictions, labels, k), oracle_map(predictions, labels, k))
    assert _close(multilabel.perr(predictions, labels), oracle_perr(predictions, labels))
    assert _close(multilabel.hit_at_one(predictions, labels),
                  oracle_hit_at_one(predictions, labels))


@pytest.mark.parametrize("seed", range(8))
def test_nan_scores_rank_as_googles_sort_ranks_them(seed: int) -> None:
    predictions, labels, k = _case(seed)
    rng = np.random.default_rng(1000 + seed)
    predictions[rng.random(predictions.shape) < 0.2] = np.nan
    assert _close(multilabel.gap(predictions, labels, top_k=k), oracle_gap(predictions, labels, k))
    assert _close(multilabel.mean_ap(predictions, labels, k), oracle_map(predictions, labels, k))


def test_a_realistic_set_of_sigmoid_scores() -> None:
    rng = np.random.default_rng(7)
    labels = (rng.random((120, 400)) < 0.01).astype(np.float32)
    logits = rng.normal(-5, 2, labels.shape) + 4 * labels
    predictions = (1 / (1 + np.exp(-logits))).astype(np.float32)
    predictions = np.round(predictions, 3)  # ties at every level
    assert abs(multilabel.gap(predictions, labels) - oracle_gap(predictions, labels)) <= 1e-9
    assert abs(multilabel.mean_ap(predictions, labels) - oracle_map(predictions, labels)) <= 1e-9


def test_two_tied_classes_give_googles_gap() -> None:
    # google's shuffle puts the second pushed pair first, and the stable sort keeps it there.
    predictions, labels = np.array([[0.5, 0.5]], np.float32), np.array([[0, 1]], np.float32)
    assert multilabel.gap(predictions, labels) == 1.0 == oracle_gap(predictions, labels)


def test_no_positive_anywhere_has_no_map() -> None:
    predictions = np.array([[0.9, 0.1], [0.3, 0.7]], np.float32)
    labels = np.zeros((2, 2), np.float32)
    assert math.isnan(multilabel.mean_ap(predictions, labels))
    assert math.isnan(multilabel.mean_of_class_aps([None, None]))
    assert multilabel.gap(predictions, labels) == 0.0
