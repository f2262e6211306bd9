"""The FFmpeg library versions of the two decoders, as a run records them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import decoder_versions as dv

VERSION = r"\d+\.\d+\.\d+"


def test_version_numbers_and_library_file_names() -> None:
    assert dv._version_text(58 << 16 | 35 << 8 | 100) == "58.35.100"
    assert dv.library_file_name("libavcodec-bc50294c.so.58.35.100") == "libavcodec"
    assert dv.library_file_name("libswscale.so.5") == "libswscale"
    assert dv.library_file_name("libavcodec.62.dylib") == "libavcodec"
    assert dv.library_file_name("libavcodecx.so") is None
    assert dv.library_file_name("libx264-555fb44a.so.164") is None


def test_mapped_libraries_leave_out_pyavs_folders() -> None:
    maps = "\n".join([
        "7f00-7f01 r--p 00000000 08:01 11 /usr/lib/x86_64-linux-gnu/libavcodec.so.58.134.100",
        "7f01-7f02 r-xp 00001000 08:01 11 /usr/lib/x86_64-linux-gnu/libavcodec.so.58.134.100",
        "7f02-7f03 r--p 00000000 08:01 12 /site/av.libs/libavcodec-5e6b81c2.so.62.28.102",
        "7f03-7f04 r--p 00000000 08:01 13 /usr/lib/libc.so.6",
        "7f04-7f05 rw-p 00000000 00:00 0",
        "7f05-7f06 r--p 00000000 08:01 14 /usr/lib/libswscale.so.5"])
    assert dv.mapped_libraries(maps, exclude=[Path("/site/av.libs")]) == [
        Path("/usr/lib/libswscale.so.5"),
        Path("/usr/lib/x86_64-linux-gnu/libavcodec.so.58.134.100")]


def test_pyav_reports_its_ffmpeg_release_and_libraries() -> None:
    av = pytest.importorskip("av")
    versions = dv.pyav_versions()
    assert versions["av ffmpeg"] == str(av.ffmpeg_version_info)
    codec = ".".join(str(part) for part in av.library_versions["libavcodec"])
    assert f"libavcodec {codec}" in versions["av libraries"]


def test_decord_reports_the_libraries_it_decodes_with() -> None:
    pytest.importorskip("decord")
    text = dv.decord_versions()["decord libraries"]
    found = dict(re.findall(rf"(lib\w+) ({VERSION})", text))
    assert {"libavutil", "libavcodec", "libavformat"} <= set(found)
    import decord

    bundled = Path(decord.__file__).parent.parent / "decord.libs"
    for library in bundled.glob("libavcodec*") if bundled.is_dir() else ():
        # a wheel's copy carries its version in its name: the library's own answer agrees
        assert library.name.endswith(found["libavcodec"])


def test_a_missing_decoder_adds_nothing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    monkeypatch.setitem(sys.modules, "decord", None)
    assert dv.decoder_versions() == {}


def test_the_versions_are_gathered_without_torch() -> None:
    code = ("import sys; from core.decoder_versions import decoder_versions; decoder_versions(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
