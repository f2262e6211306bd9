"""Groups of experiments (one `avc grid`: backbones × heads × trials): registered together, then
resumed, cancelled and removed as one. Written once for the CLI and the TUI, like
:mod:`avc_tui.control.operations`; nothing here prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avc_tui.control.launch import Planned
from avc_tui.control.operations import cancel, delete, requeue_for_resume
from avc_tui.registry import ACTIVE, RESUMABLE, Registry, RegistryError, Status
from avc_tui.registry.models import Experiment, Group

# Above this many experiments, a grid asks before registering them (the CLI's --yes skips it).
CONFIRM_ABOVE = 50


def register_group(registry: Registry, planned: Planned, *, name: str | None = None,
                   tags: Sequence[str] = ()) -> tuple[Group, list[Experiment]]:
    """Register a group and every planned experiment in it, in run order. The group's name is
    ``name``, or the dataset and the size of each axis ("ucf101: 5 backbone × 3 head")."""
    if not name:
        sizes = [f"{len(values)} {axis.replace('_', ' ')}{'s' if len(values) != 1 else ''}"
                 for axis, values in planned.axes.items() if axis not in planned.sampled]
        if planned.sampled:
            drawn = len({json.dumps([v[a] for a in planned.sampled]) for v in planned.values})
            sizes.append(f"{drawn} draws of {', '.join(planned.sampled)}")
        name = f"{Path(planned.configs[0].data.root).name}: " + " × ".join(sizes)
    group = registry.create_group(name, axes=planned.axes)
    rows = [registry.create(config, tags=tags, group_id=group.id, axes=values)
            for config, values in zip(planned.configs, planned.values)]
    return group, rows


def members(registry: Registry, group_id: int) -> list[Experiment]:
    """The group's experiments (light rows), in run order; raises ``RegistryError`` for an
    unknown group."""
    registry.group(group_id)
    return registry.list(group=group_id, light=True)


def requeue_group(registry: Registry, group_id: int) -> list[int]:
    """Queue again every experiment of the group that did not finish (cancelled, lost, failed,
    or queued and never started); returns their ids, in run order. Raises ``RegistryError`` when
    nothing is left to run."""
    registry.mark_lost()
    rows = members(registry, group_id)
    todo = [r.id for r in rows if r.status in (*RESUMABLE, Status.QUEUED)]
    if not todo:
        running = sum(r.status == Status.RUNNING for r in rows)
        raise RegistryError(f"group {group_id} has nothing to resume: "
                            f"{len(rows) - running} of {len(rows)} finished, {running} running",
                            hint=f"`avc ls --group {group_id}` lists its experiments")
    for experiment_id in todo:
        requeue_for_resume(registry, experiment_id)
    return todo


def cancel_group(registry: Registry, group_id: int) -> list[int]:
    """Stop the group's running experiments and drop its queued ones; returns their ids."""
    registry.mark_lost()
    active = [r.id for r in members(registry, group_id) if r.status in ACTIVE]
    if not active:
        raise RegistryError(f"group {group_id} has no queued or running experiment",
                            hint=f"`avc ls --group {group_id}` lists its experiments")
    for experiment_id in active:
        try:
            cancel(registry, experiment_id)
        except RegistryError:
            pass  # it ended meanwhile
    return active


def delete_group(registry: Registry, group_id: int, *, files: bool = False
                 ) -> tuple[Group, list[Experiment]]:
    """Remove the group and all its experiments (as :func:`delete`: none if one is running)."""
    ids = [r.id for r in members(registry, group_id)]
    rows = delete(registry, ids, files=files) if ids else []
    return registry.delete_group(group_id), rows


def group_summary(counts: dict[str, int]) -> dict[str, Any]:
    """``{"done": finished, "total": all, "status": what the group is doing}`` from its
    experiments' status counts."""
    total = sum(counts.values())
    done = counts.get(Status.FINISHED, 0)
    if counts.get(Status.RUNNING) or counts.get(Status.QUEUED):
        status = Status.RUNNING if counts.get(Status.RUNNING) else Status.QUEUED
    elif done == total:
        status = Status.FINISHED
    else:
        status = next(s for s in (Status.FAILED, Status.LOST, Status.CANCELLED) if counts.get(s))
    return {"done": done, "total": total, "status": str(status)}
