"""Running a batch of registered experiments in the background:
``python -m avc_tui.runner.batch --db URL --jobs N ID [ID ...]``.

What ``avc grid`` does in the foreground, as a detached process: the TUI's launch screen starts
one (through the control layer), so a grid goes on when the TUI is closed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from avc_tui.formatting import stored_error
from avc_tui.logs import configure
from avc_tui.registry import Registry, Status
from avc_tui.runner.execution import Execution
from avc_tui.runner.executor import WorkerOptions
from avc_tui.runner.scheduler import run_all
from core.errors import AvcError


def start_batch(db_url: str, experiment_ids: Sequence[int], log: Path, *,
                jobs: int | None = None, options: Sequence[str] = (),
                resume: bool = False, execution: Execution = Execution()) -> subprocess.Popen:
    """Start this module as a detached process (its own session, output to ``log``) for the
    queued experiments ``experiment_ids``; returns the process, reaped in the background."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "avc_tui.runner.batch", "--db", db_url,
               *(["--jobs", str(jobs)] if jobs else []), *(["--resume"] if resume else []),
               *options, *execution.args(), *map(str, experiment_ids)]
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=process.wait, daemon=True, name="avc-reap-batch").start()
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avc-batch", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_ids", type=int, nargs="+")
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--resume", action="store_true",
                        help="go on from each experiment's last checkpoint, if it has one")
    WorkerOptions.add_arguments(parser)
    Execution.add_arguments(parser)
    args = parser.parse_args(argv)
    configure(default="info", to_stdout=True)  # the batch log, timestamped
    options = WorkerOptions.from_arguments(args).args()
    execution = Execution.from_arguments(args)
    with Registry(args.db) as registry:
        try:
            executor = execution.start(registry.url)
        except Exception as error:  # noqa: BLE001 - nobody reads this runner's terminal
            text = stored_error(error) if isinstance(error, AvcError) else str(error)
            for experiment_id in args.experiment_ids:  # the runs say why they did not start
                if registry.get(experiment_id).status == Status.QUEUED:
                    registry.finish(experiment_id, Status.FAILED, error=text)
            return 1
        slots = execution.slots(executor, len(args.experiment_ids), args.jobs)
        schedule = run_all(registry, args.experiment_ids, executor, slots, options=options,
                           resume=args.resume, retries=execution.retries)
    return 0 if all(code == 0 for code in schedule.exit_codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
