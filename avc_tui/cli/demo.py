"""`avc demo`: the main job, the 15 ABDN runs on the bundled synthetic dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avc_tui.cli.options import Db, Device, Workers


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Working folder for the synthetic "
                                            "dataset, the cache and the runs.")] = Path("avc-demo"),
    videos_per_class: Annotated[int, typer.Option(help="Synthetic videos per class.")] = 15,
    input_size: Annotated[int, typer.Option(help="Frame size for every backbone (reduced from "
                                            "224 so the demo runs on a CPU).")] = 64,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 25,
    batch_size: Annotated[int, typer.Option(help="Batch size per run.")] = 16,
    workers: Workers = None,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the data and the training.")] = 0,
    db: Db = None,
) -> None:
    """The main job: synthetic dataset → the 15 ABDN runs → comparison table.

    Every run is registered in the registry, so `avc ls` and `avc compare` show them.
    """
    from avc_tui.demo import run_demo

    run_demo(directory, videos_per_class=videos_per_class, input_size=input_size,
             epochs=epochs, batch_size=batch_size, workers=workers, device=device, seed=seed,
             db=db)
