"""A timing aid: ``python -m core.data.synthetic OUT`` writes the default dataset to OUT and reports
how many videos, seconds and megabytes it wrote, and how long that took."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core.data.synthetic.folder import write_synthetic_dataset


def _main() -> None:  # pragma: no cover - a timing aid
    out = Path(sys.argv[1])
    started = time.perf_counter()
    summary = write_synthetic_dataset(out)
    elapsed = time.perf_counter() - started
    size = sum(video.path.stat().st_size for video in summary.videos)
    print(
        f"{len(summary.videos)} videos, {summary.seconds:.0f} s of video, "
        f"{size / 1e6:.1f} MB in {elapsed:.1f} s"
    )


if __name__ == "__main__":  # pragma: no cover
    _main()
