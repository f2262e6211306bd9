"""Temporal heads: the registry, and one module per model family.

A head takes a batch of per-frame features (B, T, D) (or conv maps (B, T, C, h, w) for heads that
attend over space) with a padding mask (B, T) and returns a :class:`HeadOutput`. Each family
registers its heads by name with :func:`register_head`; the CLI's choices and the tests'
parametrisation come from :func:`head_names`.
"""

from __future__ import annotations

from core.models.registry import (
    HeadOutput,
    HeadSpec,
    build_head,
    get_head_spec,
    head_names,
    register_head,
)
from core.models import abdn  # noqa: F401  (registers the ABDN heads)
from core.models import soft_attention, gla, nextvlad  # noqa: F401, E402  (the other families)
from core.models import cnn3d  # noqa: F401, E402  (Ji et al.'s 3D CNN on raw frames)

__all__ = ["HeadOutput", "HeadSpec", "build_head", "get_head_spec", "head_names", "register_head"]
