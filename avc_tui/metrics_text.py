"""How a run's test metrics read, in the CLI and the TUI alike: accuracy for single-label runs;
Hit@1, Hit@5, GAP@20, mAP and PERR with per-class AP for multi-label ones (Hollywood2, YouTube-8M)."""

from __future__ import annotations

from typing import Any

from avc_tui.formatting import fmt_pct as pct

MULTI_LABEL = "multi-label"
PER_CLASS_LIMIT = 60  # YouTube-8M has 3,862 classes: list the first ones, say how many more


def is_multilabel(test: dict[str, Any]) -> bool:
    return test.get("task") == MULTI_LABEL


def headline(test: dict[str, Any]) -> str:
    """One line: ``top-1 81.2%, top-5 97.0%, loss 0.4120`` or the multi-label metrics."""
    loss = test.get("loss")
    loss_text = f"loss {loss:.4f}" if isinstance(loss, (int, float)) else "loss —"
    if is_multilabel(test):
        extra = test.get("extra") or {}
        return (f"Hit@1 {pct(test.get('top1'))}%, GAP@20 {pct(extra.get('gap'))}%, "
                f"mAP {pct(extra.get('map'))}%, PERR {pct(extra.get('perr'))}%, "
                f"Hit@5 {pct(test.get('top5'))}%, {loss_text}")
    return f"top-1 {pct(test.get('top1'))}%, top-5 {pct(test.get('top5'))}%, {loss_text}"


def per_class(classes: list[str], test: dict[str, Any]
              ) -> tuple[str, list[tuple[str, float | None]], int]:
    """(column title, [(class, value)], how many rows were left out): accuracy per class, or AP
    per class for multi-label runs, where classes without a positive test video are skipped."""
    values = list(zip(classes, test.get("per_class", [])))
    if not is_multilabel(test):
        return "accuracy", values, 0
    present = [(name, ap) for name, ap in values if ap is not None]
    return "AP", present[:PER_CLASS_LIMIT], max(0, len(present) - PER_CLASS_LIMIT)
