"""Tests of core.atomic: whole-file replacement, clean-up on errors, permissions and leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.atomic import atomic_path, atomic_write, remove_leftovers


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]
    assert atomic_write(target, b"new") == target and target.read_bytes() == b"new"


def test_the_file_gets_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = atomic_write(tmp_path / "atomic.txt", "x")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_remove_leftovers_deletes_only_the_targets_own_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "a.mp4"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        raise KeyboardInterrupt
    tmp.write_bytes(b"what a killed writer leaves")  # SIGKILL skips the clean-up
    others = [tmp_path / name for name in ("a.mp4", ".a.mp4.json.0a1b.tmp", ".b.mp4.0a1b.tmp", ".a.mp4.tmp")]
    for other in others:
        other.write_text("keep")
    assert remove_leftovers(target) == [tmp]
    assert sorted(tmp_path.iterdir()) == sorted(others)
    assert remove_leftovers(tmp_path / "missing" / "a.mp4") == []
