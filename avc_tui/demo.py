"""``avc demo``: the main job on the embedded default.

Writes the bundled synthetic dataset, runs all 15 ABDN backbone × attention-mode combinations on it
with seeded random backbone weights (``--weights none``; ImageNet weights cannot be downloaded
everywhere) at a reduced input size, and prints the comparison table. Random conv features are
dominated by each video's static scene, so the heads see features centred per video over time
(``normalize="video"``), which leaves the motion that tells the classes apart. Each backbone's features are
extracted once and shared by its three heads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from avc_tui import control
from avc_tui.console import ProgressReporter, console, grid_table, markdown_grid
from avc_tui.formatting import error_and_hint
from avc_tui.registry import Registry, Status
from core.backbones import BACKBONES, backbone_names, get_backbone_spec
from core.data.synthetic import SyntheticSpec, write_synthetic_dataset
from core.errors import AvcError
from core.models.registry import head_names


def run_demo(directory: Path, *, videos_per_class: int = 15, input_size: int = 64,
             epochs: int = 25, batch_size: int = 16, workers: int | None = None,
             device: str = "auto", seed: int = 0, db: str | None = None
             ) -> dict[tuple[str, str], float]:
    """Run the demo grid in ``directory``, each run registered in the registry ``db``; returns
    {(backbone, head): test accuracy}. Raises ``AvcError`` when a run fails."""
    started = time.perf_counter()
    data_dir = directory / "synthetic"
    spec = SyntheticSpec(videos_per_class=videos_per_class, seed=seed)
    summary = write_synthetic_dataset(data_dir, spec)
    console.print(f"synthetic dataset: {len(summary.videos)} videos in {data_dir}",
                  highlight=False)
    console.print(f"{len(summary.classes)} classes: {', '.join(summary.classes)}",
                  highlight=False)
    backbones = backbone_names(abdn_only=True)
    heads = head_names(abdn_only=True)
    cells: dict[tuple[str, str], float] = {}
    registry = Registry(db)
    records = []
    for backbone in backbones:
        size = max(input_size, get_backbone_spec(backbone).min_input_size)
        for head in heads:
            [config] = control.build_configs(control.LaunchRequest(
                data_dir, backbones=(backbone,), heads=(head,), split_seed=seed,
                weights="none", input_size=size, init_seed=seed, normalize="video",
                epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                name=f"demo {backbone} {head}", tags=("demo",)))
            [row] = control.register(registry, [config], runs_root=directory / "runs")
            with ProgressReporter(f"{backbone} {head}", summaries=False) as reporter:
                status = control.run_here(registry, row.id, callbacks=[reporter],
                                          options=control.WorkerOptions(workers,
                                                                        directory / "cache"))
            row = registry.get(row.id)
            if status != Status.FINISHED:
                gist, hint = error_and_hint(row.error)
                registry.close()
                raise AvcError(f"demo run {row.id} ({backbone} {head}) {status}: "
                               f"{gist or status}", hint=hint or f"see `avc show {row.id}`")
            result = row.result
            test = result["test"]
            accuracy = test["top1"]
            cells[(BACKBONES[backbone].paper_name, head)] = accuracy
            # Under 80 columns: a terminal of that width never wraps it.
            console.print(f"{backbone:>11} {head:<18} {100 * accuracy:5.1f}% test, "
                          f"{result['seconds']['extract']:.0f} s features, "
                          f"{result['seconds']['train']:.0f} s training", highlight=False)
            records.append({"id": row.id, "backbone": backbone, "head": head,
                            "input_size": size, "test_top1": accuracy, "test_top5": test["top5"],
                            "seconds": result["seconds"], "run_dir": row.run_dir})
    registry.close()
    elapsed = time.perf_counter() - started
    rows = [BACKBONES[b].paper_name for b in backbones]
    chance = 1 / len(summary.classes)
    console.print(grid_table(
        f"Test accuracy (%), random CNN weights, {len(summary.classes)} classes: chance "
        f"{100 * chance:.1f}%", rows, heads, cells))
    console.print(f"15 runs in {elapsed:.0f} s; run folders under {directory / 'runs'}",
                  highlight=False)
    console.print(f"registry: {registry.url.removeprefix('sqlite:///')}", highlight=False)
    console.print("see them again with `avc ls --tag demo` and `avc compare --tag demo`",
                  highlight=False)
    (directory / "results.md").write_text(markdown_grid(rows, heads, cells) + "\n")
    (directory / "results.json").write_text(json.dumps(
        {"seconds": elapsed, "chance": chance, "runs": records}, indent=2))
    return cells
