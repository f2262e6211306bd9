"""`avc models`: what can be run, from the registries of backbones, heads and presets."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from avc_tui.cli.options import AsJson
from avc_tui.console import console


def models(as_json: AsJson = False) -> None:
    """List the registered backbones, heads and training presets."""
    from core.backbones import BACKBONES, BackboneKind, backbone_names, feature_shape
    from core.models.registry import HEADS, head_names
    from core.presets import PRESETS

    if as_json:
        typer.echo(json.dumps({
            "backbones": [{"name": n, "paper": BACKBONES[n].paper_name,
                           "kind": str(BACKBONES[n].kind),
                           "input_size": BACKBONES[n].default_input_size,
                           "conv_map": list(feature_shape(n)),
                           "weights_file": BACKBONES[n].weights_filename,
                           "abdn_grid": BACKBONES[n].in_abdn_grid} for n in backbone_names()],
            "heads": [{"name": n, "family": HEADS[n].family,
                       "reductions": list(HEADS[n].reductions),
                       "description": HEADS[n].description,
                       "abdn_grid": HEADS[n].in_abdn_grid} for n in head_names()],
            "presets": [{"name": p.name, "description": p.description}
                        for p in PRESETS.values()]}, indent=2))
        return

    table = Table(title="Backbones", title_justify="left")
    for col in ("name", "paper", "input", "conv map at input", "ImageNet weights", "notes"):
        table.add_column(col)
    for name in backbone_names():
        spec = BACKBONES[name]
        c, h, w = feature_shape(name)
        size = "—" if spec.kind == BackboneKind.PRECOMPUTED else str(spec.default_input_size)
        table.add_row(name, spec.paper_name, size, f"{c}×{h}×{w}",
                      spec.weights_filename or "—", spec.notes or ("ABDN grid" if spec.in_abdn_grid
                                                                   else ""))
    console.print(table)
    heads = Table(title="Heads", title_justify="left")
    for col in ("name", "family", "reductions", "description"):
        heads.add_column(col)
    for name in head_names():
        spec = HEADS[name]
        heads.add_row(name, spec.family, ", ".join(spec.reductions), spec.description)
    console.print(heads)
    presets = Table(title="Presets", title_justify="left")
    presets.add_column("name")
    presets.add_column("protocol")
    for preset in PRESETS.values():
        presets.add_row(preset.name, preset.description)
    console.print(presets)
