"""The worker process of one job: ``python -m avc_tui.runner.worker --db URL ID [--resume]``.

Started by an executor; its exit status is 0 when the experiment finished, 1 when it failed, 130
when it was cancelled. Everything it has to say goes into the registry (and its log file).
"""

from __future__ import annotations

import argparse
import sys

from avc_tui.registry import Registry, Status
from avc_tui.runner.executor import EXIT_TAKEN, WorkerOptions
from avc_tui.runner.job import execute

EXIT_CODES = {Status.FINISHED: 0, Status.FAILED: 1, Status.CANCELLED: 130}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avc-worker", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_id", type=int)
    parser.add_argument("--db", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default=None)
    WorkerOptions.add_arguments(parser)
    args = parser.parse_args(argv)
    options = WorkerOptions.from_arguments(args)
    with Registry(args.db) as registry:
        status = execute(registry, args.experiment_id, resume=args.resume, device=args.device,
                         num_workers=options.workers,
                         cache_dir=str(options.cache_dir) if options.cache_dir else None,
                         skip_unreadable=options.skip_unreadable)
    return EXIT_CODES.get(status, EXIT_TAKEN)


if __name__ == "__main__":
    sys.exit(main())
