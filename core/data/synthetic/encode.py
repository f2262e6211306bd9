"""Writing frames as an H.264 MP4 file, reproducibly and atomically.

The same frames always give the same bytes: one encoder thread, and a fixed heap fill while libx264
runs (see :func:`_deterministic_heap`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from core.atomic import atomic_path

_CODEC = "libx264"
_CODEC_OPTIONS = {"crf": "23", "preset": "veryfast"}
_PIX_FMT = "yuv420p"
# Given explicitly: the temporary file's name ends in ".tmp", from which PyAV could not guess it.
_CONTAINER = "mp4"

_M_PERTURB = -6  # glibc <malloc.h>
_perturb_lock = threading.Lock()
_perturb_users = 0


@functools.cache
def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """Return glibc's ``mallopt``, or None on other C libraries."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


@contextlib.contextmanager
def _deterministic_heap() -> Iterator[None]:
    """Make fresh heap memory hold fixed bytes while encoding, so libx264's output is reproducible.

    libx264 (as bundled with PyAV) reads some never-written padding bytes of its frame buffers; whatever
    earlier allocations left there changes the right-most macroblocks of the bitstream (decoded pixels
    differ by up to ~40 levels between two runs of the same spec). glibc's ``M_PERTURB`` fills every
    allocation with a constant byte, which removes that dependence. Elsewhere this is a no-op.
    """
    global _perturb_users
    mallopt = _glibc_mallopt()
    if mallopt is None:
        yield
        return
    with _perturb_lock:
        if _perturb_users == 0:
            mallopt(_M_PERTURB, 0x5A)
        _perturb_users += 1
    try:
        yield
    finally:
        with _perturb_lock:
            _perturb_users -= 1
            if _perturb_users == 0:
                mallopt(_M_PERTURB, 0)


def encode_h264(path: Path, frames: np.ndarray, fps: int) -> None:
    """Write ``frames`` ((N, H, W, 3) uint8 RGB) as H.264 in an MP4 container at ``path``, whatever its name."""
    import av  # PyAV is only needed when writing; keep importing this module cheap.

    with _deterministic_heap(), av.open(str(path), mode="w", format=_CONTAINER) as container:
        stream = container.add_stream(_CODEC, rate=fps, options=dict(_CODEC_OPTIONS))
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = _PIX_FMT
        # One thread: byte-identical output on every machine and no oversubscription of 2 cores.
        stream.codec_context.thread_count = 1
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode ``frames`` to a hidden temporary file beside ``path`` and rename it into place.

    On any error (or Ctrl-C) the temporary file is removed and ``path`` is left as it was; the
    encoder's exception propagates.
    """
    with atomic_path(path) as partial:
        encode_h264(partial, frames, fps)
