"""Logging for avc's processes: the engine (``core.*``) and the runner log through the standard
``logging`` module; this configures where the lines go and from which level.

The command line logs warnings by default (``-v``: info, ``-vv``: debug, or ``--log-level``) to
stderr; workers and batch runners log from ``info`` into their log file (``worker.log``), every
line timestamped. ``$AVC_LOG_LEVEL`` carries the command line's choice to the processes it
starts.
"""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error")
ENV = "AVC_LOG_LEVEL"
# Libraries whose info lines would drown avc's own.
QUIET_LIBRARIES = ("ray", "filelock", "urllib3", "asyncio", "PIL", "matplotlib")


class _StandardError(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each line (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def level_name(verbose: int = 0, log_level: str | None = None) -> str | None:
    """The level that ``-v`` (counted) or ``--log-level`` ask for; None for the default.
    Raises ``ValueError`` for an unknown level name."""
    if log_level is not None:
        if log_level.lower() not in LEVELS:
            raise ValueError(f"unknown log level {log_level!r}; choose one of: "
                             f"{', '.join(LEVELS)}")
        return log_level.lower()
    if verbose:
        return "debug" if verbose > 1 else "info"
    return None


def configure(level: str | None = None, *, default: str = "warning",
              to_stdout: bool = False) -> str:
    """Send avc's log lines, timestamped, to stderr (or stdout: a worker's log file) from
    ``level`` (else ``$AVC_LOG_LEVEL``, else ``default``); returns the level used and exports
    it to the processes started from here."""
    chosen = (level or os.environ.get(ENV) or default).lower()
    if chosen not in LEVELS:
        chosen = default
    handler = logging.StreamHandler(sys.stdout) if to_stdout else _StandardError()
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_avc", False)]:
        root.removeHandler(old)
    handler._avc = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(chosen.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if chosen == "debug" else logging.WARNING)
    if level:
        os.environ[ENV] = chosen
    return chosen


def reset() -> None:
    """Take back what :func:`configure` did (for the tests, which run many commands in one
    process)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_avc", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    os.environ.pop(ENV, None)
