"""Running a batch of registered experiments in the background:
``python -m avc_tui.runner.batch --db URL --jobs N ID [ID ...]``.

What ``avc grid`` does in the foreground, as a detached process: the TUI's launch screen starts
one, so a grid goes on when the TUI is closed.
"""

from __future__ import annotations

import argparse
import sys

from avc_tui.registry import Registry
from avc_tui.runner.devices import available_devices, plan_slots
from avc_tui.runner.executor import LocalExecutor
from avc_tui.runner.scheduler import run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avc-batch", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_ids", type=int, nargs="+")
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    with Registry(args.db) as registry:
        schedule = run_all(registry, args.experiment_ids, LocalExecutor(),
                           plan_slots(available_devices(), args.jobs))
    return 0 if all(code == 0 for code in schedule.exit_codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
