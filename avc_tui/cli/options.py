"""The command-line options that several commands share, each declared once.

Single options are ``Annotated`` aliases. Groups of options that travel together (what to launch,
how a worker runs) are declared as the parameters of a small function that builds the value they
stand for; :func:`with_options` adds those parameters to a command's signature and hands the
command the built value instead.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from avc_tui.cli import completion
from avc_tui.control import EXECUTORS, Execution, LaunchRequest, WorkerOptions, make_request

Root = Annotated[Path, typer.Argument(help="Dataset root folder (ROOT/<class>/<video> for the "
                                      "folders layout).")]
LaunchRoot = Annotated[Optional[Path], typer.Argument(
    help="Dataset root folder (ROOT/<class>/<video> for the folders layout); none with --config.",
    show_default=False)]
# Named here rather than asked of core.data's registry, which would load every layout's reader
# for `avc --help`; a test checks that the list names every registered layout.
LAYOUT_NAMES = ("folders", "ucf101", "hmdb51", "kinetics", "sports1m99", "ucf11", "hollywood2",
                "youtube8m")
Layout = Annotated[str, typer.Option(help=f"Dataset layout: {', '.join(LAYOUT_NAMES)}.",
                                     autocompletion=completion.layouts)]
Split = Annotated[str, typer.Option(help="'abdn' (seeded random 70/30) or an official split "
                                    "(1-3; 1-25 for ucf11).")]
SplitSeed = Annotated[int, typer.Option(help="Seed of the abdn split.")]
Annotations = Annotated[Optional[Path], typer.Option(help="Folder of official split files.")]
Backbone = Annotated[Optional[str], typer.Option(
    "--backbone", "-b", help="CNN backbone (see `avc models`; default vgg16, or the layout's own "
                             "features: yt8m for youtube8m).",
    autocompletion=completion.backbones)]
Weights = Annotated[str, typer.Option(help="'imagenet' (local cache only), 'none' (seeded random) "
                                      "or a path to a state-dict file.")]
InputSize = Annotated[Optional[int], typer.Option(help="Frame size in pixels (default: the "
                                                  "backbone's, 224 for the ABDN five).")]
SamplingOpt = Annotated[str, typer.Option("--sampling", help="fps:1 (ABDN), uniform:N, "
                                          "segments:N, all, with :max=N for fps/all.")]
Resize = Annotated[str, typer.Option(help="How frames reach the input size: area (ABDN's OpenCV "
                                     "INTER_AREA) or bilinear (the decoder's, faster).")]
CacheDir = Annotated[Optional[Path], typer.Option(help="Feature cache folder (default "
                                                  "$AVC_CACHE_DIR or ~/.cache/avc/features).")]
Workers = Annotated[Optional[int], typer.Option(help="Decoding worker processes.")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
PRECISION_HELP = ("Numeric precision of the CNN and of training: auto (fp16 on CUDA, bf16 on "
                  "CPUs with native bf16, else fp32), fp32, bf16 or fp16.")
Precision = Annotated[str, typer.Option(help=PRECISION_HELP)]
Compile = Annotated[bool, typer.Option("--compile", help="Compile the CNN with torch.compile "
                                       "(pays on many videos; a C++ compiler on the CPU).")]
Db = Annotated[Optional[str], typer.Option("--db", envvar="AVC_DB_URL", help="Registry: a "
                                           "SQLAlchemy URL or an SQLite file (default "
                                           "experiments.db).", show_envvar=True)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ExperimentId = Annotated[int, typer.Argument(help="Experiment id (see `avc ls`).",
                                             autocompletion=completion.experiment_ids)]
Model = Annotated[str, typer.Argument(help="A registry experiment id, a run folder or a "
                                      "checkpoint file.", autocompletion=completion.models)]


SWEEP_NOTE = " A comma-separated list makes `avc grid` run each value."


def launch_request(
    root: LaunchRoot = None,
    preset: Annotated[str, typer.Option(help="Training protocol: abdn or modern."
                                        + SWEEP_NOTE,
                                        autocompletion=completion.presets)] = "abdn",
    epochs: Annotated[Optional[str], typer.Option(help="Override the preset's epochs."
                                                  + SWEEP_NOTE, metavar="<int>")] = None,
    batch_size: Annotated[Optional[str], typer.Option(help="Override the batch size."
                                                      + SWEEP_NOTE, metavar="<int>")] = None,
    lr: Annotated[Optional[str], typer.Option(help="Override the learning rate." + SWEEP_NOTE,
                                              metavar="<float>")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    weights: Weights = "imagenet",
    input_size: Annotated[Optional[str], typer.Option(
        help="Frame size in pixels (default: the backbone's, 224 for the ABDN five)."
             + SWEEP_NOTE, metavar="<int>")] = None,
    sampling: Annotated[str, typer.Option("--sampling", help="fps:1 (ABDN), uniform:N, "
                                          "segments:N, all, with :max=N for fps/all."
                                          + SWEEP_NOTE)] = "fps:1",
    resize: Resize = "area",
    precision: Annotated[str, typer.Option(help=PRECISION_HELP + SWEEP_NOTE)] = "auto",
    compile: Compile = False,
    checkpoint_every: Annotated[int, typer.Option(
        help="Write checkpoint.pt every N epochs (the last one always, best.pt whenever it "
             "improves); a killed run resumes from its last checkpoint.")] = 1,
    reduction: Annotated[Optional[str], typer.Option(
        help="flatten (ABDN) or avg pooling of conv maps, none for heads that attend over "
             "space (default: the head's own).")] = None,
    frames: Annotated[Optional[str], typer.Option(help="Sequence length T (default: mean frame "
                                                  "count, as ABDN)." + SWEEP_NOTE,
                                                  metavar="<int>")] = None,
    mask: Annotated[Optional[bool], typer.Option(
        "--mask/--no-mask", help="Mask padded frames (default: no, as ABDN; yes for layouts "
                                 "that bring their features, as YouTube-8M's reader).")] = None,
    head_options: Annotated[Optional[list[str]], typer.Option(
        "--head-option", "-o", help="A head option as KEY=VALUE, e.g. hidden=128 (repeatable; "
                                    "see the README for each head's options); KEY=V1,V2 makes "
                                    "`avc grid` run each value.")] = None,
    normalize: Annotated[str, typer.Option(help="Feature normalisation: none (ABDN), dataset "
                                           "(z-score) or video (centre each video over time, "
                                           "then z-score; for random weights)."
                                           + SWEEP_NOTE)] = "none",
    layout: Layout = "folders",
    split: Split = "abdn",
    split_seed: SplitSeed = 0,
    annotations: Annotations = None,
    loading: Annotated[str, typer.Option(
        help="How youtube8m records are read: auto (a stream when they would take over a "
             "quarter of the memory), memory (once, into memory) or stream (the shards every "
             "epoch, flat memory; split 1).")] = "auto",
    processes: Annotated[int, typer.Option(
        help="Data-parallel training processes (DDP): one per GPU, or gloo processes on the "
             "CPU; the batch size is split between them. Streamed youtube8m only.")] = 1,
    tags: Annotated[Optional[list[str]], typer.Option("--tag", help="A tag (repeatable).")
                    ] = None,
) -> LaunchRequest:
    """What `avc run` and `avc grid` share: the dataset, the features, the head's settings and
    the training protocol (each command adds what to run and where). Values may be lists
    (``--lr 1e-3,3e-4``): `avc grid` sweeps them, `avc run` refuses them."""
    return make_request(root, head_options=head_options or (), tags=tags or (), preset=preset,
                        epochs=epochs, batch_size=batch_size, lr=lr, input_size=input_size,
                        sampling=sampling, frames=frames, normalize=normalize,
                        reduction=reduction, layout=layout, split=split, split_seed=split_seed,
                        annotations=annotations, weights=weights, resize=resize, mask=mask,
                        seed=seed, precision=precision, compile=compile,
                        checkpoint_every=checkpoint_every, loading=loading,
                        processes=processes)


# What launch_request gives when no option is given: with --config, nothing else may be.
def default_request() -> LaunchRequest:
    return launch_request(None)


def worker_options(
    workers: Workers = None,
    cache_dir: CacheDir = None,
    skip_unreadable: Annotated[bool, typer.Option(
        help="Leave out videos that cannot be decoded (they are listed) instead of "
             "stopping.")] = False,
) -> WorkerOptions:
    """How a run's worker decodes and caches (run, grid, resume)."""
    return WorkerOptions(workers, cache_dir.resolve() if cache_dir else None, skip_unreadable)


def execution_options(
    executor: Annotated[str, typer.Option(
        help=f"Where jobs run: {' or '.join(EXECUTORS)} (tasks on a Ray cluster; needs the ray "
             "extra, see the README).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="With --executor ray: the cluster to join, auto or HOST:PORT (default: start Ray "
             "on this machine).")] = None,
    gpus_per_job: Annotated[Optional[float], typer.Option(
        help="GPUs each job takes: 0.25 puts four jobs on one GPU, 0 runs them on the CPU "
             "(default: one where there are GPUs).", metavar="<float>")] = None,
    cpus_per_job: Annotated[float, typer.Option(
        help="With --executor ray: CPUs each job and each extraction reserves.",
        metavar="<float>")] = 1.0,
    retries: Annotated[int, typer.Option(
        help="Resume a run lost on the way (its worker or node died) from its last "
             "checkpoint, up to this many times.")] = 0,
) -> Execution:
    """Where and how batch jobs run (run, grid, resume)."""
    return Execution(executor, address, gpus_per_job, cpus_per_job, retries)


def with_options(**groups: Callable[..., Any]):
    """Decorator: give a command the parameters of each group function (``name=function``) as
    options of its own; the command receives ``name=function(**those values)``.

    Typer reads a command's options from its signature, so the decorated command shows the
    merged signature: the command's own parameters, then each group's, arguments first.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = _resolved_parameters(command, exclude=set(groups))
        members = {name: [p.name for p in _resolved_parameters(build)]
                   for name, build in groups.items()}
        merged = own + [p for build in groups.values() for p in _resolved_parameters(build)]
        # Parameters without a default (the arguments) first, each side in its own order.
        merged.sort(key=lambda p: p.default is not inspect.Parameter.empty)

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            built = {name: build(**{key: values.pop(key) for key in members[name]})
                     for name, build in groups.items()}
            return command(**values, **built)

        wrapper.__signature__ = inspect.Signature(merged)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in merged}
        return wrapper

    return decorate


def _resolved_parameters(function: Callable[..., Any],
                         exclude: frozenset[str] | set[str] = frozenset()
                         ) -> list[inspect.Parameter]:
    """``function``'s parameters with their annotations evaluated (``Annotated`` kept), as
    keyword parameters."""
    hints = typing.get_type_hints(function, include_extras=True)
    return [p.replace(annotation=hints.get(p.name, p.annotation),
                      kind=inspect.Parameter.KEYWORD_ONLY if p.default is not p.empty
                      else inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(function).parameters.values() if p.name not in exclude]
