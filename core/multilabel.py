"""Multi-label metrics exactly as google's YouTube-8M evaluation code computes them
(``eval_util.py``, ``average_precision_calculator.py``, ``mean_average_precision_calculator.py``),
the order in which tied scores are ranked included.

``predictions`` and ``labels`` are (videos, classes) arrays: scores, and 0/1 ground truth.

- Hit@1: the mean over videos of labels[argmax prediction] (the first class among equal maxima).
- PERR: for a video with k true labels, the share of true labels among the k classes that
  ``numpy.argpartition(scores, -k)[-k:]`` picks (so a tie at the k-th place is broken as NumPy's
  partition breaks it), counting only predictions above 0; a video with no labels counts 0.
- Top k per video: ``numpy.argpartition(scores, -k)[-k:]`` of each video, as ``top_k_triplets``;
  the chosen entries go to per-class lists in video order.
- GAP@20: the per-class lists joined class after class (``eval_util.flatten``) are pushed one by
  one onto a heap of (score, label) pairs; the heap's array order is shuffled by Python's
  ``random.seed(0); random.sample`` and then sorted by score, highest first, with a stable sort:
  that is the rank of tied scores. AP = Σ over positive ranks i of (positives so far)/i, divided
  by P, all the positive labels of the ground truth (top k or not). No entry or P = 0 gives 0.
- mAP: each class's AP the same way, over that class's list and all its positives; classes
  without positives are left out and the rest averaged; with no class left it is NaN, as
  ``numpy.mean([])`` is in google's ``eval.py`` (avc shows it as "—" and stores no number).

Arithmetic is in double precision, as under the NumPy 1.x the code was written for (under NumPy 2
its float32 label counts would round the recall step to float32). GAP's tie order depends on the
order of the pushes: ``batch_size=None`` is ``eval_util.calculate_gap`` on all videos at once, an
integer is ``eval.py``'s ``EvaluationMetrics`` fed that many videos at a time (1,024 by default
there); mAP does not depend on it. A tie at a video's 20th place is broken by NumPy's
``argpartition``, which is what google's code calls too.
"""

from __future__ import annotations

import heapq
import random

import numpy as np


def hit_at_one(predictions: np.ndarray, labels: np.ndarray) -> float:
    top = np.argmax(predictions, axis=1)
    return float(np.mean(labels[np.arange(len(labels)), top]))


def perr(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Precision at equal recall rate, averaged over videos."""
    total = 0.0
    for scores, truth in zip(predictions, labels):
        k = int(np.sum(truth))
        # With k = 0 the slice [-0:] keeps every class, none of them true: the video adds 0.
        chosen = np.argpartition(scores, -k)[-k:]
        total += float(np.sum(truth[chosen][scores[chosen] > 0])) / chosen.size
    return total / len(predictions)


def _descending(scores: np.ndarray) -> np.ndarray:
    """The indices of ``scores`` from highest to lowest, equal scores in their given order
    (Python's ``sorted(..., reverse=True)``, which is stable)."""
    if np.isnan(scores).any():  # NaN does not order; only Python's own sort ranks it as google's
        values = scores.tolist()
        return np.array(sorted(range(len(values)), key=values.__getitem__, reverse=True), dtype=int)
    return np.argsort(-scores, kind="stable")


def _average_precision(scores: np.ndarray, labels: np.ndarray, total_positives: float) -> float:
    """google's AveragePrecisionCalculator (no top n): ``scores``/``labels`` accumulated in this
    order with ``total_positives`` positives, then ``peek_ap_at_n``."""
    if len(scores) == 0:
        return 0.0  # an empty heap
    heap: list[tuple[float, float]] = []
    for pair in zip(np.asarray(scores, dtype=np.float64).tolist(),
                    np.asarray(labels, dtype=np.float64).tolist()):
        heapq.heappush(heap, pair)
    held = np.array(heap, dtype=np.float64)
    shuffle = random.Random(0).sample(range(len(held)), len(held))  # random.seed(0); random.sample
    held = held[shuffle]
    if total_positives == 0:
        return 0.0
    hits = held[_descending(held[:, 0]), 1] > 0
    ranks = np.flatnonzero(hits) + 1.0
    terms = np.arange(1, len(ranks) + 1) / ranks * (1.0 / float(total_positives))
    return float(np.cumsum(terms)[-1]) if len(terms) else 0.0  # cumsum adds in rank order


def top_k_rows(predictions: np.ndarray, labels: np.ndarray, k: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each video's top ``k`` classes (google's ``top_k_by_class``: ``numpy.argpartition``) as
    (videos, k) arrays of class, score and label; what :class:`TopK` keeps of a batch."""
    if k < 1:
        raise ValueError(f"top_k must be a positive integer, not {k}")
    videos, classes = predictions.shape
    k = min(k, classes)
    chosen = np.array([np.argpartition(row, -k)[-k:] for row in predictions],
                      dtype=np.int64).reshape(videos, k)
    rows = np.arange(videos)[:, None]
    return chosen, predictions[rows, chosen], labels[rows, chosen]


def _pooled(chosen: np.ndarray, scores: np.ndarray, truth: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (videos, k) top-k arrays as flat (class, video, score, label) arrays ordered by class,
    then video: the order of ``flatten`` over google's per-class lists."""
    videos, k = chosen.shape
    video = np.repeat(np.arange(videos), k)
    cls = chosen.ravel()
    order = np.lexsort((video, cls))
    return cls[order], video[order], scores.ravel()[order], truth.ravel()[order]


def _top_k(predictions: np.ndarray, labels: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each video's top ``k`` as flat (class, video, score, label) arrays ordered by class, then
    video."""
    return _pooled(*top_k_rows(predictions, labels, k))


def gap(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20,
        batch_size: int | None = None) -> float:
    """Global average precision over the pooled top-``top_k`` predictions of every video;
    ``batch_size`` videos at a time as ``eval.py`` feeds them (None: all at once)."""
    classes, videos, scores, truth = _top_k(predictions, labels, top_k)
    return _gap_of(classes, videos, scores, truth, float(np.sum(labels, dtype=np.float64)),
                   batch_size)


def _gap_of(classes: np.ndarray, videos: np.ndarray, scores: np.ndarray, truth: np.ndarray,
            positives: float, batch_size: int | None) -> float:
    if batch_size is not None:  # batch after batch, each batch joined class after class
        order = np.lexsort((classes, videos // batch_size))
        scores, truth = scores[order], truth[order]
    return _average_precision(scores, truth, positives)


def class_aps(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20) -> list[float | None]:
    """Each class's AP over the top-``top_k``-per-video predictions that fell in it, over all
    positives of that class; None for a class without positives (``filter_empty_classes``)."""
    classes, _, scores, truth = _top_k(predictions, labels, top_k)
    return _class_aps_of(classes, scores, truth, np.sum(labels, axis=0, dtype=np.float64))


def _class_aps_of(classes: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                  positives: np.ndarray) -> list[float | None]:
    bounds = np.searchsorted(classes, np.arange(len(positives) + 1))
    aps: list[float | None] = []
    for c in range(len(positives)):
        if not positives[c] > 0:
            aps.append(None)
            continue
        chosen = slice(bounds[c], bounds[c + 1])
        aps.append(_average_precision(scores[chosen], truth[chosen], float(positives[c])))
    return aps


def mean_of_class_aps(aps: list[float | None]) -> float:
    """mAP from :func:`class_aps`: the mean of the classes that have positives; NaN when none has
    (google's ``numpy.mean([])``), which avc shows as "—" and never stores as a number."""
    kept = [ap for ap in aps if ap is not None]
    return float(np.mean(kept)) if kept else float("nan")


def mean_ap(predictions: np.ndarray, labels: np.ndarray, top_k: int = 20) -> float:
    """Mean over classes with positives of the per-class AP of the top-``top_k`` predictions."""
    return mean_of_class_aps(class_aps(predictions, labels, top_k))


class TopK:
    """The multi-label metrics of videos that arrive batch after batch, without holding every
    video's scores: each video's top ``k`` (class, score, label), the positives per class, and the
    per-video sums of Hit@1, Hit@5 and PERR. Fed the batches of one set in order, its
    :meth:`gap` and :meth:`class_aps` equal :func:`gap` and :func:`class_aps` of the whole set
    bit for bit (the same float32 scores, the same order of pooled entries), and the sums divided
    by :attr:`count` equal :func:`hit_at_one` and :func:`perr` up to the order of additions
    (1e-12). Memory: ``k`` entries per video (YouTube-8M's 1.1 M
    validation videos at k = 20: about 350 MB), not ``classes``.
    """

    def __init__(self, num_classes: int, k: int = 20) -> None:
        self.num_classes, self.k = num_classes, k
        self.count = 0
        self.positives = np.zeros(num_classes, dtype=np.float64)
        self.hit1 = self.hit5 = self.perr = 0.0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, predictions: np.ndarray, labels: np.ndarray) -> None:
        """One batch: (videos, classes) scores and 0/1 labels."""
        if len(predictions) == 0:
            return
        rows = np.arange(len(labels))
        self.hit1 += float(np.sum(labels[rows, np.argmax(predictions, axis=1)], dtype=np.float64))
        top = np.argsort(-predictions, axis=1)[:, :min(5, self.num_classes)]
        self.hit5 += float(np.sum(labels[rows[:, None], top].max(axis=1) > 0))
        self.perr += perr(predictions, labels) * len(predictions)
        self.positives += np.sum(labels, axis=0, dtype=np.float64)
        chosen, scores, truth = top_k_rows(predictions, labels, self.k)
        self._parts.append((chosen.astype(np.int32), scores, truth.astype(np.uint8)))
        self.count += len(predictions)

    def _pool(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self._parts:
            empty = np.zeros((0, 1))
            return _pooled(empty.astype(np.int64), empty, empty)
        chosen, scores, truth = (np.concatenate(part) for part in zip(*self._parts))
        return _pooled(chosen.astype(np.int64), scores, truth)

    def gap(self, batch_size: int | None = None) -> float:
        return self.results(batch_size)[0]

    def class_aps(self) -> list[float | None]:
        return self.results()[1]

    def results(self, batch_size: int | None = None) -> tuple[float, list[float | None]]:
        """GAP and the per-class APs, from one pooling of the kept entries."""
        classes, videos, scores, truth = self._pool()
        return (_gap_of(classes, videos, scores, truth, float(np.sum(self.positives)),
                        batch_size),
                _class_aps_of(classes, scores, truth, self.positives))
