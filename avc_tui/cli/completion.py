"""Shell completion (`avc --install-completion`): backbone, head, layout and preset names, and
the experiment ids of the registry the command line names (``--db``, else ``$AVC_DB_URL``,
else ``experiments.db``). Each returns (value, help) pairs that start with what was typed;
a comma-separated list (``--backbones vgg16,res``) completes its last item."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _matching(incomplete: str, choices: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    head, comma, last = incomplete.rpartition(",")
    prefix = head + comma
    return [(prefix + name, text) for name, text in choices if name.startswith(last)]


def backbones(incomplete: str) -> list[tuple[str, str]]:
    from core.backbones import backbone_names, get_backbone_spec

    return _matching(incomplete, ((n, get_backbone_spec(n).paper_name or "")
                                  for n in backbone_names()))


def heads(incomplete: str) -> list[tuple[str, str]]:
    from core.models.registry import get_head_spec, head_names

    return _matching(incomplete, ((n, get_head_spec(n).description or "")
                                  for n in head_names()))


def layouts(incomplete: str) -> list[tuple[str, str]]:
    from core.data import layout_names

    return _matching(incomplete, ((n, "") for n in layout_names()))


def presets(incomplete: str) -> list[tuple[str, str]]:
    from core.presets import PRESETS

    return _matching(incomplete, ((name, preset.description)
                                  for name, preset in PRESETS.items()))


def experiment_ids(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    """The registry's experiments, newest first, with their names and status."""
    from sqlalchemy.exc import SQLAlchemyError

    from avc_tui.registry import Registry, RegistryError

    try:
        with Registry(ctx.params.get("db"), create=False) as registry:
            rows = registry.list(sort="id", descending=True, light=True, limit=200)
    except (RegistryError, OSError, SQLAlchemyError):
        return []  # no registry there, or not a usable one: nothing to offer
    return [(str(r.id), f"{r.name} ({r.status})") for r in rows
            if str(r.id).startswith(incomplete)]


def models(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    """For a model argument: the experiment ids while what was typed could start one; nothing
    otherwise, so that the shell completes files and folders (a run folder, a checkpoint)."""
    return experiment_ids(ctx, incomplete) if incomplete.isdigit() or not incomplete else []
