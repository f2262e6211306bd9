"""A process that must not outlive another: decoding workers end with the run that started them.

DataLoader workers started from a fork server are children of the fork server, not of the run,
and the fork server stays up while they do; PyTorch's own watchdog asks only whether a worker's
parent is alive. When a run is killed (``kill -9``, the out-of-memory killer) its workers, the fork
server and the resource tracker would live on, holding their memory. :func:`exit_with` ties a
worker's life to the run's.
"""

from __future__ import annotations

import os
import select
import threading
import time


def exit_with(pid: int) -> None:
    """End this process (``os._exit``) as soon as process ``pid`` ends, watched by a daemon
    thread: at once through a pidfd on Linux, else by asking every second."""
    threading.Thread(target=_watch, args=(pid,), name="avc-lifeline", daemon=True).start()


def _watch(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later
        while _alive(pid):
            time.sleep(1.0)
        os._exit(1)
    select.select([handle], [], [])  # readable once the process has ended
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
