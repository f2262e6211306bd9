"""How values read in both front ends: status colours, percentages, durations, an error's gist.

Plain text and Rich style names only, so the CLI and the TUI (and anything else) share them.
"""

from __future__ import annotations

import math
from datetime import timedelta

from avc_tui.registry.models import Status

STATUS_STYLE = {Status.QUEUED: "dim", Status.RUNNING: "bold cyan", Status.FINISHED: "green",
                Status.FAILED: "red", Status.CANCELLED: "yellow", Status.LOST: "magenta"}


def fmt_pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; ``—`` for none or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.1f}"


def fmt_duration(seconds: float | None) -> str:
    """``H:MM:SS``; ``—`` for none."""
    if seconds is None:
        return "—"
    return str(timedelta(seconds=int(seconds)))


def error_gist(text: str | None) -> str:
    """The line of a stored error that says what went wrong: the last line of a traceback, else
    the first line."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else "")
