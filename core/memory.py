"""Keeping freed memory in the process instead of handing it back to the kernel after every step.

glibc serves large allocations (a gradient, a batch of activations: tens to hundreds of MB) with
``mmap`` and unmaps them when they are freed, and it trims the top of its heap; the next step
allocates the same sizes again and the kernel faults every page in anew: millions of page faults
an epoch, a third of a CPU training step's time (see ``benchmarks/bench_train.py``). A training or
extraction process reuses the same sizes all the time, so avc asks glibc to serve everything from
its heap and never trim it: the process keeps its peak memory, and steps stop faulting.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # the largest value mallopt takes (an int): 2 GB of free heap top


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Switch glibc's malloc to heap-only, untrimmed allocation for the rest of this process;
    returns whether it took effect (False on other C libraries and systems). Called once per
    process by the training loop and the extraction on the CPU."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
    log.debug("malloc keeps freed memory: %s", done)
    return done
