"""Every wait of the tests, bounded and named: a test that waits for the UI or for a worker
process either goes on or fails saying what it waited for, and never hangs."""

from __future__ import annotations

import time
from collections.abc import Callable

TIMEOUT = 30.0
STEP = 0.05


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "it",
               step: float = 0.2) -> None:
    """Sleep until ``predicate()`` is true (a worker process's progress); fails after
    ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(step)


async def wait_for(pilot, predicate: Callable[[], object], what: str = "the UI",
                   timeout: float = TIMEOUT) -> None:
    """Pause until ``predicate()`` is true; fails after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        await pilot.pause(STEP)


# Workers that wait for work as long as their widget lives: DirectoryTree's loading queue.
LIFELONG = frozenset({"_loader"})


async def wait_until_still(pilot, timeout: float = TIMEOUT, quiet: float = 0.2) -> None:
    """Pause until the workers are done and the screen has not changed for ``quiet`` seconds:
    a snapshot then shows the same thing however loaded the machine is."""
    await wait_for(pilot, lambda: all(w.is_finished or w.group in LIFELONG
                                      for w in pilot.app.workers),
                   "the screen's workers", timeout)
    deadline = time.monotonic() + timeout
    last, still_since = None, time.monotonic()
    while True:
        await pilot.pause(STEP)
        frame = pilot.app.export_screenshot()
        if frame != last:
            last, still_since = frame, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return
        assert time.monotonic() < deadline, f"the screen kept changing for {timeout:.0f} s"


async def dashboard_loaded(pilot) -> None:
    """Pause until the dashboard has its first snapshot of the registry."""
    from avc_tui.tui.screens.dashboard import DashboardScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen)
                   and pilot.app.screen.loaded, "the dashboard to load")
