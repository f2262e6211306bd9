"""Type checks for plain numbers given as configuration values or arguments.

``bool`` is a subclass of ``int`` in Python, so ``isinstance(True, int)`` holds; a config field that
wants a count must still refuse ``True``. numpy scalars (from arrays, or from JSON read with numpy)
count as numbers.
"""

from __future__ import annotations

import math

import numpy as np


def is_int(value: object) -> bool:
    """Return whether ``value`` is a Python or numpy integer and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_finite_real(value: object) -> bool:
    """Return whether ``value`` is a finite Python or numpy int or float and not a bool."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return real and math.isfinite(value)
