"""The worker process of one job: ``python -m avc_tui.runner.worker --db URL ID [--resume]``.

Started by an executor; its exit status is 0 when the experiment finished, 1 when it failed, 130
when it was cancelled. Everything it has to say goes into the registry (and its log file).

With ``--extract-only`` it fills the feature cache for the experiment's dataset and backbone and
leaves the experiment as it is: the Ray executor's extraction task, which the experiment's jobs
(and every other job on the same features) wait for.

The environment tells it where it runs: ``AVC_EXECUTOR`` and ``AVC_NODE_ID`` (the Ray node), and
``AVC_EXIT_WITH``: a process id whose end ends this worker at once (the Ray task that started it,
so that a worker never outlives a task that was killed or a node that died).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from avc_tui.formatting import stored_error
from avc_tui.logs import configure
from avc_tui.registry import Placement, Registry, Status
from avc_tui.runner.executor import EXIT_TAKEN, WorkerOptions
from core.errors import AvcError
from core.lifeline import exit_with

log = logging.getLogger(__name__)
EXIT_CODES = {Status.FINISHED: 0, Status.FAILED: 1, Status.CANCELLED: 130}
SHARED_STORAGE_HINT = ("put the run folders ($AVC_RUNS_DIR) and the feature cache (--cache-dir) "
                       "on storage every node sees")


def placement_from_environment() -> Placement:
    """Where this worker runs, as its executor described it in the environment."""
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return Placement(executor=os.environ.get("AVC_EXECUTOR", "local"),
                     node_id=os.environ.get("AVC_NODE_ID") or None, gpus=gpus or None)


def extract_only(registry: Registry, experiment_id: int, options: WorkerOptions,
                 device: str | None) -> int:
    """Fill the feature cache for the experiment's videos; returns 0, or 1 when that failed (the
    experiment's own job then extracts what is missing and records why it cannot)."""
    from core.experiment import default_cache_dir, open_dataset, prepare_features
    from core.features import FeatureCache

    config = registry.config(experiment_id)
    if device is not None:
        config = config.with_changes(train={"device": device})
    try:
        dataset = open_dataset(config)
        if dataset.brings_features:
            log.info("%s comes with its features: nothing to extract", config.data.layout)
            return 0
        report = prepare_features(config, dataset,
                                  cache=FeatureCache(options.cache_dir or default_cache_dir()),
                                  num_workers=options.workers, skip_unreadable=True)
    except AvcError as error:
        log.warning("extraction failed: %s", error)
        return 1
    log.info("extraction for %s: %d extracted, %d already cached, %d unreadable",
             config.features.backbone, report.extracted, report.cached, len(report.failed))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avc-worker", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_id", type=int)
    parser.add_argument("--db", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--extract-only", action="store_true")
    WorkerOptions.add_arguments(parser)
    args = parser.parse_args(argv)
    configure(default="info", to_stdout=True)  # the worker's log file, timestamped
    if os.environ.get("AVC_EXIT_WITH"):
        exit_with(int(os.environ["AVC_EXIT_WITH"]))
    options = WorkerOptions.from_arguments(args)
    with Registry(args.db) as registry:
        if args.extract_only:
            return extract_only(registry, args.experiment_id, options, args.device)
        run_dir = Path(registry.get(args.experiment_id).run_dir)
        if not run_dir.is_dir():  # its executor made it: this node does not see that storage
            if registry.get(args.experiment_id).status != Status.QUEUED:
                return EXIT_TAKEN  # cancelled meanwhile, or another worker's
            error = AvcError(f"the run folder {run_dir} is not on this node "
                             f"({placement_from_environment().node_id or 'this host'})",
                             hint=SHARED_STORAGE_HINT)
            registry.finish(args.experiment_id, Status.FAILED, error=stored_error(error))
            return EXIT_CODES[Status.FAILED]
        from avc_tui.runner.job import execute

        status = execute(registry, args.experiment_id, resume=args.resume, device=args.device,
                         num_workers=options.workers,
                         cache_dir=str(options.cache_dir) if options.cache_dir else None,
                         skip_unreadable=options.skip_unreadable,
                         placement=placement_from_environment())
    return EXIT_CODES.get(status, EXIT_TAKEN)


if __name__ == "__main__":
    sys.exit(main())
