"""A run folder: the files one experiment writes, named in one place.

The engine writes ``config.json``, ``checkpoint.pt`` (the last epoch), ``best.pt`` (the selected
epoch), ``metrics.jsonl`` and ``result.json``; a background worker adds ``worker.log``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run and the paths of the files in it."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        """The last finished epoch's checkpoint: what a resumed run continues from."""
        return self.path / "checkpoint.pt"

    @property
    def best(self) -> Path:
        """The checkpoint of the epoch the protocol selected."""
        return self.path / "best.pt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def log(self) -> Path:
        """The output of a background worker."""
        return self.path / "worker.log"

    def artifacts(self) -> list[tuple[str, Path]]:
        """(kind, path) of every file a run may write, in a fixed order."""
        return [("config", self.config), ("checkpoint", self.checkpoint),
                ("checkpoint", self.best), ("metrics", self.metrics), ("result", self.result),
                ("log", self.log)]

    def own_files(self) -> list[Path]:
        """The files in the folder that a run writes: its artifacts and the temporaries of an
        interrupted write of one (``.checkpoint.pt.<random>.tmp``)."""
        if not self.path.is_dir():
            return []
        names = {path.name for _, path in self.artifacts()}
        return sorted(p for p in self.path.iterdir() if p.is_file() and not p.is_symlink()
                      and (p.name in names or _temporary_of(p.name, names)))

    def remove(self) -> list[Path]:
        """Delete the run's own files, then the folder if nothing else is left in it; returns the
        deleted files. What the run did not write stays where it is."""
        removed = self.own_files()
        for path in removed:
            path.unlink(missing_ok=True)
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()
        return removed

    def model_checkpoint(self) -> Path:
        """The checkpoint to predict with: ``best.pt`` when the run has one, else the last."""
        return self.best if self.best.is_file() else self.checkpoint


def _temporary_of(name: str, names: set[str]) -> bool:
    """Whether ``name`` is an atomic write's temporary of one of ``names`` (see core/atomic.py)."""
    return name.startswith(".") and name.endswith(".tmp") and any(
        name.startswith(f".{own}.") for own in names)
