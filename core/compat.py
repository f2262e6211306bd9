"""The one compatibility check of an experiment: dataset layout × backbone × head × head options.

The config runs it when it is made, the predictor when it loads a model, and the TUI's launch
form through the config; so a combination that cannot work is refused the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError


def check_compatible(layout: str, backbone: str, head: str,
                     options: dict[str, Any] | None = None) -> None:
    """Raise ``ConfigError`` (with what to change) when ``head`` with ``options`` cannot run on
    ``backbone``'s output in the dataset ``layout``."""
    from core.backbones import BackboneKind, get_backbone_spec
    from core.data import layout_features
    from core.models.registry import HeadInput, get_head_spec

    provided = layout_features(layout)
    kind = get_backbone_spec(backbone).kind
    spec = get_head_spec(head)
    consumes = spec.input(options)
    if provided is not None and backbone != provided:
        raise ConfigError(f"the {layout} layout comes with its own features; "
                          f"it needs --backbone {provided}, not {backbone}",
                          hint=f"pass --backbone {provided} (or leave --backbone out)")
    if spec.end_to_end and kind != BackboneKind.PIXELS:
        raise ConfigError(f"{head} is trained end to end on the frames; "
                          f"it needs --backbone pixels, not {backbone}",
                          hint="pass --backbone pixels")
    if consumes == HeadInput.FRAMES and not spec.end_to_end and backbone != "rgb":
        raise ConfigError(f"{head} with {spec.frames_option}=... trains its CNN on "
                          f"the frames; it needs --backbone rgb, not {backbone}",
                          hint="pass --backbone rgb")
    if kind == BackboneKind.PIXELS and spec.attends_over_space and consumes != HeadInput.FRAMES:
        raise ConfigError(f"{head} attends over a CNN's conv maps, and "
                          f"{backbone} gives the frames themselves",
                          hint="pick a CNN backbone (or, for gla, -o cnn=NAME to train one "
                               "with it)")
    if provided is None and kind == BackboneKind.PRECOMPUTED:
        raise ConfigError(f"{backbone} features come only with their dataset; "
                          f"the {layout} layout has videos, pick a CNN backbone",
                          hint="pass --backbone vgg16 (see `avc models`)")
