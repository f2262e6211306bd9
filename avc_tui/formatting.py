"""How values read in both front ends: status colours, percentages, durations, an error's gist.

Plain text and Rich style names only, so the CLI and the TUI (and anything else) share them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from avc_tui.registry.models import Status
from core.errors import AvcError

STATUS_STYLE = {Status.QUEUED: "dim", Status.RUNNING: "bold cyan", Status.FINISHED: "green",
                Status.FAILED: "red", Status.CANCELLED: "yellow", Status.LOST: "magenta"}


def fmt_pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; ``—`` for none or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.1f}"


def local_time(stamp: datetime) -> datetime:
    """A registry time (naive UTC) in this machine's time zone."""
    return stamp.replace(tzinfo=UTC).astimezone()


def fmt_time(stamp: datetime | None) -> str:
    """A registry time as local ``YYYY-MM-DD HH:MM:SS`` (no microseconds); ``—`` for none."""
    return "—" if stamp is None else local_time(stamp).strftime("%Y-%m-%d %H:%M:%S")


def fmt_short_time(stamp: datetime | None) -> str:
    """A registry time as local ``MM-DD HH:MM``; ``—`` for none."""
    return "—" if stamp is None else local_time(stamp).strftime("%m-%d %H:%M")


def fmt_age(stamp: datetime | None, now: datetime) -> str:
    """How long ago a registry time was, from ``now`` (also naive UTC): ``12 s ago``, ``3 min
    ago``, ``5 h ago``, ``2 d ago``; past four weeks the local date; ``—`` for none."""
    if stamp is None:
        return "—"
    seconds = max(0.0, (now - stamp).total_seconds())
    for unit, size, below in (("s", 1, 60), ("min", 60, 3600), ("h", 3600, 48 * 3600),
                              ("d", 86400, 28 * 86400)):
        if seconds < below:
            return f"{int(seconds // size)} {unit} ago"
    return local_time(stamp).strftime("%Y-%m-%d")


def fmt_duration(seconds: float | None) -> str:
    """``H:MM:SS``; ``—`` for none."""
    if seconds is None:
        return "—"
    return str(timedelta(seconds=int(seconds)))


def stored_error(error: AvcError) -> str:
    """How a failed run's expected error is kept in the registry: its message, and its hint on a
    second line (``hint: ...``)."""
    return error.message + (f"\n{HINT_PREFIX}{error.hint}" if error.hint else "")


HINT_PREFIX = "hint: "


def error_gist(text: str | None) -> str:
    """The line of a stored error that says what went wrong: the last line of a traceback, else
    the first line."""
    return error_and_hint(text)[0]


def error_and_hint(text: str | None) -> tuple[str, str | None]:
    """A stored error's gist (see :func:`error_gist`) and its hint line, if it has one."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        return lines[-1], None
    hint = next((line[len(HINT_PREFIX):] for line in lines[1:] if line.startswith(HINT_PREFIX)),
                None)
    return (lines[0] if lines else ""), hint
