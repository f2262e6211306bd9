"""Shared fixtures: where the real clips and annotation files of ../shared/data live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    override = os.environ.get("AVC_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real test data (videos/, annotations/); CI always has it beside the checkout."""
    path = _shared_data_dir()
    if not (path / "videos").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real test data not found at {path} (set AVC_SHARED_DATA)")
        pytest.skip(f"real test data not found at {path} (set AVC_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def real_videos(shared_data: Path) -> list[Path]:
    """Every real dataset clip (not the edge cases)."""
    return sorted(p for p in (shared_data / "videos").iterdir() if p.is_file())
