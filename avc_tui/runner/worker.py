"""The worker process of one job: ``python -m avc_tui.runner.worker --db URL ID [--resume]``.

Started by an executor; its exit status is 0 when the experiment finished, 1 when it failed, 130
when it was cancelled. Everything it has to say goes into the registry (and its log file).
"""

from __future__ import annotations

import argparse
import sys

from avc_tui.registry import Registry
from avc_tui.runner.job import execute

EXIT_CODES = {"finished": 0, "failed": 1, "cancelled": 130}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avc-worker", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_id", type=int)
    parser.add_argument("--db", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--skip-unreadable", action="store_true")
    args = parser.parse_args(argv)
    with Registry(args.db) as registry:
        status = execute(registry, args.experiment_id, resume=args.resume, device=args.device,
                         num_workers=args.workers, cache_dir=args.cache_dir,
                         skip_unreadable=args.skip_unreadable)
    return EXIT_CODES[status]


if __name__ == "__main__":
    sys.exit(main())
