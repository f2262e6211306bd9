"""The FFmpeg libraries behind avc's two video decoders, as version strings for a run's record.

Decoded pixels depend on them (a different libavcodec or libswscale can change a frame by a grey
level or more), so a run records them next to its package versions:

- ``av ffmpeg``: the FFmpeg release PyAV was built with (``av.ffmpeg_version_info``);
- ``av libraries``: the libraries PyAV runs with (``av.library_versions``), e.g.
  ``libavcodec 62.28.102, …``;
- ``decord libraries``: the libraries decord runs with. decord has no API for them: once decord is
  loaded, each library's own ``<name>_version()`` is called through ctypes, on the copies a decord
  wheel bundles (``decord.libs`` beside the package, ``decord/.dylibs``) or, for a decord built
  against the system's FFmpeg, on the ones the process has mapped outside PyAV's folders (Linux).

A decoder that is not installed adds nothing. Nothing here imports torch.
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

LIBRARIES = ("avutil", "avcodec", "avformat", "avfilter", "avdevice", "swscale", "swresample")


def _version_text(code: int) -> str:
    """FFmpeg's AV_VERSION_INT (major << 16 | minor << 8 | micro) as ``major.minor.micro``."""
    return f"{code >> 16}.{(code >> 8) & 0xFF}.{code & 0xFF}"


def pyav_versions() -> dict[str, str]:
    """PyAV's FFmpeg release and libraries; empty without PyAV."""
    try:
        import av
    except Exception:  # a broken binary wheel raises OSError and friends too
        return {}
    out: dict[str, str] = {}
    release = getattr(av, "ffmpeg_version_info", None)
    if release:
        out["av ffmpeg"] = str(release)
    libraries = getattr(av, "library_versions", None) or {}
    if libraries:
        out["av libraries"] = ", ".join(f"{name} {'.'.join(str(part) for part in version)}"
                                        for name, version in libraries.items())
    return out


def library_file_name(name: str) -> str | None:
    """Which FFmpeg library a shared-object file name is (``libavcodec-bc50294c.so.58.35.100`` →
    ``libavcodec``), or None."""
    match = re.match(r"lib(" + "|".join(LIBRARIES) + r")(?:[-.]|$)", name)
    return f"lib{match.group(1)}" if match else None


def library_versions(paths: Iterable[Path]) -> dict[str, str]:
    """``libavcodec`` → ``58.35.100`` for each FFmpeg library among ``paths``, asked through its
    own ``<name>_version()``; files that do not load are skipped."""
    found: dict[str, str] = {}
    for path in paths:
        library = library_file_name(path.name)
        if library is None or library in found:
            continue
        try:
            handle = ctypes.CDLL(str(path))
            function = getattr(handle, f"{library[3:]}_version")
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.c_uint
        found[library] = _version_text(int(function()))
    return dict(sorted(found.items(), key=lambda item: LIBRARIES.index(item[0][3:])))


def _bundled(package: Path) -> list[Path]:
    """The FFmpeg libraries a decord wheel ships: auditwheel's ``decord.libs`` beside the package,
    delocate's ``.dylibs`` inside it, or the package folder itself."""
    folders = (package.parent / f"{package.name}.libs", package / ".dylibs", package)
    return sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir()
                  if library_file_name(p.name) and (".so" in p.name or p.suffix == ".dylib"))


def mapped_libraries(maps: str, exclude: Iterable[Path] = ()) -> list[Path]:
    """The FFmpeg libraries in a ``/proc/<pid>/maps`` text, outside the ``exclude`` folders."""
    excluded = [str(folder) for folder in exclude]
    paths = {Path(line.split(None, 5)[5]) for line in maps.splitlines()
             if len(line.split(None, 5)) == 6}
    return sorted(p for p in paths if library_file_name(p.name)
                  and not any(str(p).startswith(folder) for folder in excluded))


def _pyav_folders() -> list[Path]:
    """Where PyAV's own copies of the libraries live (its package and its wheel's ``.libs``)."""
    spec = importlib.util.find_spec("av")
    if spec is None or spec.origin is None:
        return []
    package = Path(spec.origin).parent
    return [package, package.parent / "av.libs", package.parent / "pyav.libs"]


def decord_versions() -> dict[str, str]:
    """decord's FFmpeg libraries as one string; empty without decord or when they cannot be told."""
    spec = importlib.util.find_spec("decord")
    if spec is None or spec.origin is None:
        return {}
    try:
        import decord  # noqa: F401  (loads its libraries, which only resolve each other so)
    except Exception:
        return {}
    paths = _bundled(Path(spec.origin).parent)
    if not paths:  # decord linked against the system's FFmpeg: what loading it mapped
        try:
            paths = mapped_libraries(Path("/proc/self/maps").read_text(), exclude=_pyav_folders())
        except OSError:
            return {}
    versions = library_versions(paths)
    if not versions:
        return {}
    return {"decord libraries": ", ".join(f"{name} {v}" for name, v in versions.items())}


def decoder_versions() -> dict[str, str]:
    """Everything above: PyAV's FFmpeg release and libraries, decord's libraries."""
    return {**pyav_versions(), **decord_versions()}
