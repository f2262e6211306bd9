"""The control layer: every operation that changes state or starts work, written once for both
front ends (the CLI in ``avc_tui.cli``, the TUI in ``avc_tui.tui``). They parse and render; this
layer builds configs from launch requests, registers, starts, cancels, resumes and deletes, and
it alone calls the runner."""

from avc_tui.control.groups import (
    CONFIRM_ABOVE,
    cancel_group,
    delete_group,
    group_summary,
    members,
    register_group,
    requeue_group,
)
from avc_tui.control.launch import (
    DEFAULT_BACKBONE,
    DEFAULT_HEAD,
    LaunchRequest,
    Planned,
    Range,
    Trials,
    build_configs,
    check_launch,
    chosen_names,
    make_request,
    parse_options,
    parse_sweep,
    plan_grid,
)
from avc_tui.control.operations import (
    Batch,
    Started,
    cancel,
    check_execution,
    delete,
    experiment_checkpoint,
    is_experiment_id,
    model_checkpoint,
    prepare_batch,
    register,
    requeue_for_resume,
    run_batch_here,
    run_here,
    start_background,
    start_batch_background,
)
from avc_tui.control.sweep_file import read_sweep_file
from avc_tui.runner.execution import EXECUTORS, Execution
from avc_tui.runner.executor import WorkerOptions

__all__ = ["CONFIRM_ABOVE", "DEFAULT_BACKBONE", "DEFAULT_HEAD", "EXECUTORS", "Batch",
           "Execution", "LaunchRequest", "Planned", "Range", "Started", "Trials", "WorkerOptions",
           "build_configs", "cancel", "cancel_group", "check_execution", "check_launch",
           "chosen_names", "delete", "delete_group", "experiment_checkpoint", "group_summary",
           "is_experiment_id", "make_request", "members", "model_checkpoint", "parse_options",
           "parse_sweep", "plan_grid", "prepare_batch", "read_sweep_file", "register",
           "register_group", "requeue_for_resume", "requeue_group", "run_batch_here", "run_here",
           "start_background", "start_batch_background"]
