"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings and lists only: the model and optimizer state,
the epoch, the metric history, RNG states, and the experiment config as a JSON string, so that
``avc predict`` needs nothing but the file.
"""

from __future__ import annotations

import os
import pickle
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_path
from core.errors import CheckpointError

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` via a temporary file and a rename; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
    return path


def snapshot(value: Any) -> Any:
    """A copy of ``value`` (nested dicts, lists and tuples of tensors and plain values) whose
    tensors are detached CPU copies: what a checkpoint holds at this moment, safe to write while
    training goes on changing the originals."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(item) for item in value)
    return value


class CheckpointWriter:
    """Writes checkpoints on a thread of its own, one at a time, so that the training loop does
    not wait for serialising and the disk: :meth:`submit` takes a :func:`snapshot` of the payload
    and returns. The next :meth:`submit`, and :meth:`wait`, first wait for the write before,
    then call its ``done`` on the caller's thread, or raise what the write raised (a full disk).
    With ``background`` False every write happens inside :meth:`submit`."""

    def __init__(self, *, background: bool = True) -> None:
        self.background = background
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._done: Callable[[], None] | None = None

    def submit(self, payload: dict[str, Any], *, latest: Path | None = None,
               best: Path | None = None, done: Callable[[], None] | None = None) -> None:
        """Write ``payload`` to ``latest`` and/or ``best`` (one file, hard-linked, when both),
        then have ``done`` called."""
        self.wait()
        state = snapshot(payload) if self.background else payload
        self._done = done

        def write() -> None:
            try:
                save_checkpoint(latest or best, state)
                if latest is not None and best is not None:
                    link_or_copy(latest, best)
            except BaseException as exc:  # noqa: BLE001 - raised on the loop's thread by wait()
                self._error = exc

        if self.background:
            self._thread = threading.Thread(target=write, name="avc-checkpoint", daemon=True)
            self._thread.start()
        else:
            write()
            self.wait()

    def wait(self) -> None:
        """Block until the write in progress has ended; then raise its error, or call its
        ``done``."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, done = self._error, self._done
        self._error = self._done = None
        if error is not None:
            raise error
        if done is not None:
            done()


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` the same file as ``source`` atomically: a hard link renamed into place
    (no second write), or a copy where the file system has no hard links."""
    with atomic_path(target) as tmp:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; raises ``CheckpointError`` when it is missing or not avc's."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}",
                              hint="check the file's permissions and the disk") from exc
    except pickle.UnpicklingError as exc:
        # Not PyTorch's own message: it suggests weights_only=False, which runs the file's code.
        raise CheckpointError(f"cannot read checkpoint {path}: it holds objects other than "
                              f"tensors and plain values, which avc does not load") from exc
    except Exception as exc:  # noqa: BLE001 - a damaged file, or no PyTorch file at all
        raise CheckpointError(f"cannot read checkpoint {path}: it is damaged, truncated or not "
                              f"a PyTorch file ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise CheckpointError(f"{path} is not an avc checkpoint")
    if payload.get("format", 0) > CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} was written by a newer avc",
                              hint="update avc (git pull, then pip install -e .) to read it")
    return payload


def load_model_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """Fill ``model`` with the weights ``state`` holds; raises ``CheckpointError`` saying how
    they differ (names missing or extra, shapes) when they do not fit, and leaves ``model``
    unchanged then."""
    expected = model.state_dict()
    given = state if isinstance(state, dict) else {}
    missing = [k for k in expected if k not in given]
    extra = [k for k in given if k not in expected]
    shapes = [k for k in expected if k in given and isinstance(given[k], torch.Tensor)
              and given[k].shape != expected[k].shape]
    parts = [f"{len(missing)} weights missing (e.g. {missing[0]})" if missing else "",
             f"{len(extra)} unknown (e.g. {extra[0]})" if extra else "",
             f"{len(shapes)} of another shape (e.g. {shapes[0]}: {tuple(given[shapes[0]].shape)} "
             f"for {tuple(expected[shapes[0]].shape)})" if shapes else ""]
    if any(parts):
        raise CheckpointError(f"{path} does not fit the model its config describes: "
                              + ", ".join(p for p in parts if p),
                              hint="it was changed or comes from another run: use the best.pt "
                                   "or checkpoint.pt that avc wrote for this experiment")
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError) as exc:  # e.g. a dtype it cannot take
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path} does not fit the model its config describes: {first}",
                              hint="use the best.pt or checkpoint.pt that avc wrote for this "
                                   "experiment") from exc
