"""Writing a file so that readers see the old one or the whole new one, never half of it: write to
a hidden temporary file beside the target, then rename it into place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Temporaries are named ".<target name>.<random>.tmp": hidden, so dataset layouts skip them, and
# recognisable, so that leftovers of a killed writer can be found (see remove_leftovers).
_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _create_temporary(path: Path) -> Path:
    """Create an empty, new temporary file beside ``path`` and return its path; raises OSError.

    Unlike ``tempfile.mkstemp`` (mode 0600) it is created with mode 0666 less the umask, as ``open``
    would create ``path`` itself: the renamed file must stay readable by whoever could read a file
    written directly (a dataset or cache on storage that other users or nodes read).
    """
    for _ in range(100):
        tmp = path.with_name(f"{_temp_prefix(path)}{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"cannot find a free temporary name beside {path}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on a clean exit it replaces ``path``,
    on an error it is removed and ``path`` is left as it was. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes | str | Callable[[Path], object]) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function that writes the file it is given) to
    ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        if callable(data):
            data(tmp)
        elif isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


def remove_leftovers(path: str | Path) -> list[Path]:
    """Delete the temporaries :func:`atomic_path` left beside ``path`` when a writer was killed
    before it could clean up (an error or Ctrl-C removes them itself); returns the deleted paths.

    Only call it when no other process may be writing ``path`` right now: it would delete that
    writer's temporary too. A missing folder has no leftovers."""
    path = Path(path)
    prefix = _temp_prefix(path)
    try:
        candidates = list(path.parent.iterdir())
    except FileNotFoundError:
        return []
    removed = []
    for candidate in candidates:
        name = candidate.name
        random_part = name[len(prefix) : -len(_TEMP_SUFFIX)]
        # The random part is hex, without a dot; with a dot it belongs to a longer name
        # ("a.mp4.json").
        ours = name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)
        if ours and random_part and "." not in random_part:
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
