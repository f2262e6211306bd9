"""The head registry: names → builders, with the input each head expects."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import torch
from torch import nn

from core.errors import ConfigError
from core.tasks import Task, task_for


@dataclass
class HeadOutput:
    """What a head returns: class logits and, where the model has them, attention weights.

    ``attention`` is (B, T), each row a distribution over time (summing to 1 over the real frames);
    ``spatial_attention`` is (B, T, h·w) for heads that attend over locations.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None = None
    spatial_attention: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class HeadInput(StrEnum):
    """What a head consumes per frame."""

    FEATURES = "features"  # a vector: the conv map flattened (ABDN) or averaged
    CONV_MAPS = "conv maps"  # the whole (C, h, w) map: heads that attend over locations
    FRAMES = "frames"  # the frames themselves: trained end to end, or with a CNN fine-tuned


class TemporalHead(nn.Module):
    """The base of every temporal head: ``forward(x, mask) -> HeadOutput``, and the loss it is
    trained with. The default is the task's own (cross-entropy, or binary cross-entropy for
    multi-label data); heads with a loss of their own (attention penalties, hinges) override
    :meth:`loss`."""

    def loss(self, output: HeadOutput, labels: torch.Tensor, task: Task | None = None
             ) -> torch.Tensor:
        """The training loss of ``output`` for ``labels`` under ``task`` (default: the task the
        labels' shape says, see :func:`core.tasks.task_for`)."""
        return (task or task_for(labels)).loss(output.logits, labels)


@dataclass(frozen=True)
class HeadSpec:
    """A registered head: its builder and what features it consumes.

    ``build(in_dim=, num_classes=, frames=, **options)`` returns the ``nn.Module``.
    ``reductions`` lists the feature reductions it accepts (``flatten``, ``avg``, or ``none`` for
    heads that read the conv maps themselves). ``task_aware`` heads get a ``multilabel`` option on
    multi-label data; ``probe`` is the (in_dim, frames) their options are checked with;
    ``end_to_end`` heads are whole models trained on the frames (the ``pixels`` backbone), and
    ``frames_option`` names the option that makes a head one (GLA's ``cnn``: fine-tuning);
    ``default_frames`` is their sequence length when the config gives none (else ABDN's mean rule).
    """

    name: str
    family: str
    build: Callable[..., nn.Module]
    reductions: tuple[str, ...] = ("flatten", "avg")
    in_abdn_grid: bool = False
    description: str = ""
    task_aware: bool = False
    probe: tuple[int, int] = (16, 2)  # (in_dim, frames) to check options with on the meta device
    end_to_end: bool = False
    default_frames: int | None = None
    frames_option: str | None = None
    restorable: bool = False

    def reads_frames(self, options: dict[str, Any] | None) -> bool:
        """Whether the head, with these options, is trained on the frames themselves (end to end)
        rather than on a frozen backbone's cached maps."""
        return self.end_to_end or bool(self.frames_option and (options or {}).get(
            self.frames_option))

    def input(self, options: dict[str, Any] | None = None) -> HeadInput:
        """What the head consumes with these options."""
        if self.reads_frames(options):
            return HeadInput.FRAMES
        return HeadInput.CONV_MAPS if self.default_reduction == "none" else HeadInput.FEATURES

    @property
    def default_reduction(self) -> str:
        """The reduction a config without one gets: the first the head accepts."""
        return self.reductions[0]

    @property
    def attends_over_space(self) -> bool:
        """Whether the head can read whole conv maps (reduction ``none``)."""
        return "none" in self.reductions

    def option_names(self) -> list[str]:
        """The options (``-o KEY=VALUE``) the head takes: its build function's keyword
        parameters, or those of the head class it returns when it passes ``**options`` on."""
        names = _keyword_options(self.build)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in inspect.signature(self.build).parameters.values()):
            returned = typing.get_type_hints(self.build).get("return")
            if isinstance(returned, type):
                names += _keyword_options(returned)
        return names

    def probe_shape(self, options: dict[str, Any] | None, frames: int | None = None
                    ) -> tuple[int, int]:
        """(in_dim, frames) to check ``options`` with on the meta device: RGB channels for a head
        that fine-tunes its own CNN on the frames, else the registered probe."""
        in_dim = 3 if self.reads_frames(options) and not self.end_to_end else self.probe[0]
        return in_dim, frames or self.probe[1]


HEADS: dict[str, HeadSpec] = {}

# Every head's build function takes these; avc sets them, they are not the user's options.
_BUILD_ARGUMENTS = frozenset({"in_dim", "num_classes", "frames", "multilabel", "restoring"})


def _keyword_options(function: Callable[..., Any]) -> list[str]:
    return [name for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _BUILD_ARGUMENTS]


def register_head(name: str, *, family: str, reductions: tuple[str, ...] = ("flatten", "avg"),
                  in_abdn_grid: bool = False, description: str = "", task_aware: bool = False,
                  probe: tuple[int, int] = (16, 2), end_to_end: bool = False,
                  default_frames: int | None = None, frames_option: str | None = None,
                  restorable: bool = False):
    """Decorator registering a builder under ``name``; a duplicate name raises ``ValueError``.

    ``restorable`` builders take ``restoring=True`` when a checkpoint is about to fill every
    weight, so that starting weights they would read from a file are not needed.
    """

    def decorate(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in HEADS:
            raise ValueError(f"head {name!r} is already registered")
        HEADS[name] = HeadSpec(name, family, build, reductions, in_abdn_grid, description,
                               task_aware, probe, end_to_end, default_frames,
                               frames_option, restorable)
        return build

    return decorate


def head_names(*, abdn_only: bool = False) -> list[str]:
    """Registered head names in registration order."""
    return [n for n, s in HEADS.items() if s.in_abdn_grid or not abdn_only]


def get_head_spec(name: str) -> HeadSpec:
    """The spec of head ``name``; raises ``ConfigError`` listing the valid names."""
    if name in HEADS:
        return HEADS[name]
    hint = "`avc models` lists the heads and the papers they come from"
    if name.replace("_", "-") in HEADS:
        hint = f"did you mean {name.replace('_', '-')!r}? " + hint
    raise ConfigError(f"unknown head {name!r}; choose one of: {', '.join(HEADS)}", hint=hint)


def probe_head(name: str, options: dict[str, Any] | None, frames: int | None = None) -> int:
    """Build head ``name`` with ``options`` on the meta device (no memory, no time) and return
    its parameter count; raises ``ConfigError`` for a wrong option name or value. The input is
    the head's probe shape, so the count is a lower bound for real features."""
    spec = get_head_spec(name)
    with torch.device("meta"):
        in_dim, frames = spec.probe_shape(options, frames)
        model = build_head(name, in_dim=in_dim, num_classes=2, frames=frames, options=options)
    return sum(p.numel() for p in model.parameters())


def build_head(name: str, *, in_dim: int, num_classes: int, frames: int,
               options: dict[str, Any] | None = None, multilabel: bool = False,
               restoring: bool = False) -> nn.Module:
    """Build head ``name``; raises ``ConfigError`` for an unknown name or unknown options.

    ``multilabel`` tells heads whose prediction rule depends on the task (registered with
    ``task_aware``: soft attention's vote, GLA's regulariser) that the data is multi-label, as their
    ``multilabel`` option; the others score classes the same way either way. ``restoring``: a
    checkpoint is about to fill every weight (resume, predict), so none is read from a file.
    """
    spec = get_head_spec(name)
    options = dict(options or {})
    if multilabel and spec.task_aware:
        options["multilabel"] = True
    if restoring and spec.restorable:
        options["restoring"] = True
    known = f"{name} takes the options {', '.join(spec.option_names())} (as -o KEY=VALUE)"
    check = f"give it a value of the right type and range; {known}"
    try:
        return spec.build(in_dim=in_dim, num_classes=num_classes, frames=frames, **options)
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown:
            raise ConfigError(f"head {name!r} has no option {unknown[1]!r}", hint=known) from exc
        raise ConfigError(f"bad value for an option of head {name!r}: {exc}", hint=check) from exc
    except ValueError as exc:
        raise ConfigError(f"bad value for an option of head {name!r}: {exc}", hint=check) from exc
    except (RuntimeError, OverflowError, MemoryError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, RuntimeError) and "overflow" not in first.lower():
            # e.g. -o dense=-5: "Trying to create tensor with negative dimension"
            raise ConfigError(f"bad value for an option of head {name!r}: {first}",
                              hint=check) from exc
        raise ConfigError(f"head {name!r} is too large to build with these options: {first}",
                          hint=f"use smaller sizes; {known}") from exc
