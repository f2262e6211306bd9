"""Closed sets of configuration values that the config and the engine both check against."""

from __future__ import annotations

from core.errors import ConfigError

# How a frame's conv map becomes what a head reads: flattened (ABDN), averaged, or kept whole.
REDUCTIONS = ("flatten", "avg", "none")
# Feature normalisation: none (ABDN), z-score over the dataset, or centred per video then z-score.
NORMALIZATIONS = ("none", "dataset", "video")
# The validation metric a run's checkpoint is selected by, by task, under its key in the epoch
# record: top-1 accuracy, or mAP for multi-label data.
SELECTION_KEYS = {"single-label": "acc", "multi-label": "map"}
# How frames are brought to the CNN's input size: OpenCV's area interpolation on the decoded frame
# (ABDN's cv2.resize INTER_AREA), or the decoder's own bilinear scaling (faster, not ABDN's).
RESIZES = ("area", "bilinear")
# Numeric precision of the CNN's forward pass and of training (see core.precision): auto is fp16 on
# CUDA, bf16 on CPUs with native bf16 matrix instructions, fp32 otherwise.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# How a dataset whose features come with it (YouTube-8M) is read: auto (a stream when the
# selection would take more than a quarter of the memory), into memory once, or as a stream of
# its TFRecord shards every epoch (see core.data.yt8m_stream).
LOADINGS = ("auto", "memory", "stream")
PRECISION_HINT = ("choose auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, "
                  "bf16 or fp16")


def check_precision(precision: str) -> None:
    """Raise ``ConfigError`` for a name that is not one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}", hint=PRECISION_HINT)
