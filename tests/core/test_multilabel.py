"""YouTube-8M metrics on hand-computed cases, ties and videos without labels included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.multilabel import gap, hit_at_one, mean_ap, perr

PRED = np.array([[0.9, 0.5, 0.1, 0.05], [0.2, 0.8, 0.3, 0.01]])
TRUTH = np.array([[1, 0, 1, 0], [0, 1, 0, 0]])


def test_hit_at_one() -> None:
    assert hit_at_one(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0, 1], [0, 1]])) == 0.5


def test_perr_counts_unlabelled_videos_as_zero_and_needs_positive_scores() -> None:
    predictions = np.array([[0.9, 0.8, 0.1], [0.3, 0.2, 0.1], [0.0, -1.0, -2.0]])
    labels = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 0]])
    # video 1: top-2 = classes 0, 1 → 1 of 2; video 2: no labels → 0; video 3: its top
    # prediction is true but scores 0, which does not count → 0.
    assert perr(predictions, labels) == pytest.approx(0.5 / 3)


def test_gap_pools_the_top_k_and_divides_by_all_positives() -> None:
    # top 2 per video pooled: 0.9 (+), 0.8 (+), 0.5 (−), 0.3 (−); 3 positives in all (video 1's
    # class 2 never reaches its top 2): AP = (1/1 + 2/2) / 3.
    assert gap(PRED, TRUTH, top_k=2) == pytest.approx(2 / 3)
    # With every prediction kept the missed positive comes in at rank 6 of the pool:
    # 0.9+, 0.8+, 0.5−, 0.3−, 0.2−, 0.1+ … → (1 + 1 + 3/6) / 3.
    assert gap(PRED, TRUTH, top_k=20) == pytest.approx((1 + 1 + 3 / 6) / 3)


def test_mean_ap_skips_classes_without_positives() -> None:
    # class 0: AP 1; class 1: 0.8 (+) before 0.5 (−) → 1; class 2: its positive is outside the
    # top 2 → 0; class 3 has no positives and is left out.
    assert mean_ap(PRED, TRUTH, top_k=2) == pytest.approx(2 / 3)


def test_ties_are_broken_the_same_way_every_time() -> None:
    predictions = np.array([[0.5, 0.5], [0.5, 0.5]])
    labels = np.array([[1, 0], [0, 1]])
    first = gap(predictions, labels, top_k=2)
    assert first == gap(predictions, labels, top_k=2)
    # Four tied predictions, two positive: AP lies between the worst and the best order.
    worst, best = (1 / 3 + 2 / 4) / 2, 1.0
    assert worst <= first <= best


def test_no_positives_at_all() -> None:
    labels = np.zeros((2, 4))
    # google's mAP is numpy.mean([]) here: NaN (shown as "—"), never a number google would not print.
    assert gap(PRED, labels) == 0.0 and math.isnan(mean_ap(PRED, labels))
    assert perr(PRED, labels) == 0.0
