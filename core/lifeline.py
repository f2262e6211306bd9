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


def exit_with(pid: int) -> None:
    """End this process (``os._exit``) as soon as process ``pid`` ends, watched by a daemon
    thread through a pidfd. Linux 5.3 or later only: elsewhere nothing is watched (a pid checked
    by polling could be reused, and on Windows ``os.kill`` would stop the process)."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(1)
    except OSError:  # a kernel without pidfds
        return
    threading.Thread(target=_watch, args=(handle,), name="avc-lifeline", daemon=True).start()


def _watch(handle: int) -> None:
    select.select([handle], [], [])  # readable once the process has ended
    os._exit(1)
