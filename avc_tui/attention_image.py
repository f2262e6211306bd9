"""A picture of where a model looked: the soft-attention paper's visualisation.

For each of the first frames the model saw: the frame on top and, below it, the frame with its
h × w attention map upsampled to the frame size, scaled so that its maximum is white, and blended
over it at 0.8 opacity; frames side by side with 20-pixel white spacers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import ConfigError
from core.predict import Prediction

SPACER = 20
OPACITY = 0.8


def attention_figure(prediction: Prediction, *, frames: int = 6, size: int = 224) -> Image.Image:
    """The figure for ``prediction`` (made with ``keep_frames=True``); raises ``ConfigError``
    for a model without spatial attention."""
    if prediction.spatial_attention is None or not prediction.map_size:
        raise ConfigError("this model has no spatial attention to draw",
                          hint="`avc predict` shows the attention over time of the ABDN heads; "
                               "spatial maps come from soft-attention and gla")
    images = prediction.extras["frames"][:frames]
    h, w = prediction.map_size
    columns = []
    for frame, weights in zip(images, prediction.spatial_attention):
        picture = Image.fromarray(frame).convert("RGB").resize((size, size), Image.BILINEAR)
        alpha = np.asarray(weights, dtype=np.float32).reshape(h, w)
        alpha = alpha / max(float(alpha.max()), 1e-12) * 255.0
        heat = Image.fromarray(alpha.astype(np.uint8)).resize((size, size),
                                                                         Image.BICUBIC)
        overlay = Image.blend(picture, heat.convert("RGB"), OPACITY)
        column = Image.new("RGB", (size, 2 * size), "white")
        column.paste(picture, (0, 0))
        column.paste(overlay, (0, size))
        columns.append(column)
    width = len(columns) * size + (len(columns) - 1) * SPACER
    figure = Image.new("RGB", (max(width, 1), 2 * size), "white")
    for i, column in enumerate(columns):
        figure.paste(column, (i * (size + SPACER), 0))
    return figure


def save_attention_figure(prediction: Prediction, path: str | Path, *, frames: int = 6) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    attention_figure(prediction, frames=frames).save(path)
    return path
