"""Launch requests: the flat values a front end collects (command-line options, the TUI's form)
turned into validated experiment configs, one per backbone × head.

Everything that can be checked before a run is registered is checked here: the configs
themselves (layout × backbone × head × options, through ``ExperimentConfig``), the dataset folder,
that its videos open, and that ImageNet weights asked for are in the local caches.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import DataConfig, ExperimentConfig, FeatureConfig, HeadConfig, TrainConfig
from core.errors import ConfigError
from core.sampling import Sampling

# core.data (every layout's reader), the backbones and the heads (PyTorch) are imported where
# they are used, so that `avc --help` loads none of them.
if TYPE_CHECKING:
    from core.data import Dataset

DEFAULT_BACKBONE = "vgg16"
DEFAULT_HEAD = "cnn-lstm-attention"


@dataclass(frozen=True)
class LaunchRequest:
    """What to run, as a front end collected it. ``backbones`` / ``heads`` empty mean the
    defaults: one run takes the layout's own features or vgg16 and cnn-lstm-attention; a grid
    (``grid=True``) takes the ABDN five (or the layout's own features) × the three ABDN modes."""

    root: str | Path
    backbones: Sequence[str] = ()
    heads: Sequence[str] = ()
    grid: bool = False
    layout: str = "folders"
    split: str = "abdn"
    split_seed: int = 0
    annotations: str | Path | None = None
    weights: str = "imagenet"
    input_size: int | None = None
    sampling: str = "fps:1"
    resize: str = "area"
    precision: str = "auto"
    compile: bool = False
    init_seed: int = 0
    reduction: str | None = None
    frames: int | None = None
    mask: bool | None = None
    normalize: str = "none"
    head_options: Sequence[str] | Mapping[str, Any] = ()
    preset: str = "abdn"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1
    loading: str = "auto"
    processes: int = 1
    name: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    # Swept fields (a grid runs every combination): a field's name, or a head option's, to the
    # values it takes; the fields above hold the first of each. See parse_sweep.
    sweep: Mapping[str, Sequence[Any]] = field(default_factory=dict)


# The fields `avc grid` sweeps given a comma-separated list, and how each value is read.
SWEEPABLE: dict[str, Any] = {"lr": float, "batch_size": int, "epochs": int, "input_size": int,
                             "frames": int, "normalize": str, "reduction": str, "sampling": str,
                             "preset": str, "precision": str}


@dataclass(frozen=True)
class Range:
    """A numeric range to draw values from (``--lr 1e-4..1e-2:log``), for ``--sample N``:
    uniform, or uniform in the logarithm; whole numbers when both ends are."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @classmethod
    def parse(cls, text: str, kind: Any = float) -> Range | None:
        """The range ``text`` writes (``A..B`` or ``A..B:log``), or None when it is no range.
        Raises ``ConfigError`` for a range that cannot be drawn from."""
        body, _, scale = text.partition(":")
        low, dots, high = body.partition("..")
        if not dots:
            return None
        try:
            ends = (kind(low), kind(high)) if kind is int else (float(low), float(high))
        except ValueError:
            raise ConfigError(f"cannot read the range {text!r}",
                              hint="write it as LOW..HIGH or LOW..HIGH:log, e.g. 1e-4..1e-2:log"
                              ) from None
        log = scale == "log"
        if scale not in ("", "log") or ends[0] >= ends[1] or (log and ends[0] <= 0):
            raise ConfigError(f"cannot draw from the range {text!r}",
                              hint="LOW must be below HIGH (and above 0 for :log)")
        integer = kind is int or all(float(e).is_integer() and "." not in part and "e" not in
                                     part.lower() for e, part in zip(ends, (low, high)))
        return cls(ends[0], ends[1], log, integer)

    def draw(self, rng: random.Random) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return round(value) if self.integer else float(f"{value:.3g}")


def parse_sweep(values: Mapping[str, str | None], head_options: Sequence[str] = ()
                ) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    """Read command-line text that may hold comma-separated lists: ``values`` maps fields of
    :data:`SWEEPABLE` to their text (None: not given), ``head_options`` are ``KEY=VALUE`` items
    whose value may be ``V1,V2``. Returns (each field's first value, the head options with their
    first values, the swept axes: every field or option given several values, with them).
    Raises ``ConfigError`` for a value of the wrong type."""
    first: dict[str, Any] = {}
    axes: dict[str, list[Any]] = {}
    for name, text in values.items():
        if text is None:
            first[name] = None
            continue
        parts = [part.strip() for part in str(text).split(",")]
        try:
            read = [_value(part, SWEEPABLE[name]) for part in parts if part]
        except ValueError:
            option = "--" + name.replace("_", "-")
            raise ConfigError(f"{option} takes {SWEEPABLE[name].__name__} values, got {text!r}",
                              hint=f"for example {option} {_EXAMPLES[name]}") from None
        if not read:
            raise ConfigError(f"--{name.replace('_', '-')} is empty",
                              hint=f"for example --{name.replace('_', '-')} {_EXAMPLES[name]}")
        first[name] = read[0].low if isinstance(read[0], Range) else read[0]
        if len(read) > 1 or isinstance(read[0], Range):
            axes[name] = read
    options = parse_options(head_options)
    for key, value in list(options.items()):
        if isinstance(value, str) and ("," in value or ".." in value):
            read = [Range.parse(part.strip()) or parse_options([f"{key}={part.strip()}"])[key]
                    for part in value.split(",")]
            options[key] = read[0].low if isinstance(read[0], Range) else read[0]
            axes[key] = read
    return first, options, axes


def _value(text: str, kind: Any) -> Any:
    """One value of a sweepable field: a number, a text, or a numeric :class:`Range`."""
    if kind in (int, float):
        drawn = Range.parse(text, kind)
        if drawn is not None:
            return drawn
    return kind(text)


_EXAMPLES = {"lr": "1e-3,3e-4", "batch_size": "16,64", "epochs": "30,60",
             "input_size": "112,224", "frames": "8,16", "normalize": "none,video",
             "reduction": "flatten,avg", "sampling": "fps:1,segments:8",
             "preset": "abdn,modern", "precision": "fp32,bf16"}


def make_request(root: str | Path | None, *, head_options: Sequence[str] = (),
                 tags: Sequence[str] = (), **values: Any) -> LaunchRequest:
    """A launch request from values as a front end or a sweep file gives them: the fields of
    :data:`SWEEPABLE` as text that may list several values ("1e-3,3e-4"), as lists, or as
    single values; head options as ``KEY=VALUE`` items (``KEY=V1,V2``); any other
    :class:`LaunchRequest` field as it is. Raises ``ConfigError``."""
    unknown = set(values) - set(LaunchRequest.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown launch settings: {', '.join(sorted(unknown))}",
                          hint="`avc grid --help` lists them (as options, - for _)")
    texts = {name: _as_text(values.pop(name)) for name in SWEEPABLE if name in values}
    first, options, sweep = parse_sweep(texts, head_options)
    return LaunchRequest(root if root is not None else "", head_options=options,
                         tags=tuple(tags), sweep=sweep,
                         **{k: v for k, v in first.items() if v is not None}, **values)


def _as_text(value: Any) -> str | None:
    """A value of a sweepable field as the text parse_sweep reads: a list joined by commas."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_options(pairs: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["hidden=128", "rnn=gru"]`` → {"hidden": 128, "rnn": "gru"}; values are JSON if they
    parse as JSON, text otherwise. A mapping is taken as it is. Raises ``ConfigError`` for an item
    without ``=``."""
    if isinstance(pairs, Mapping):
        return dict(pairs)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"head option {pair!r} is not KEY=VALUE",
                              hint="write it as -o KEY=VALUE, e.g. -o hidden=128")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def chosen_names(value: str | None, valid: Sequence[str], what: str) -> list[str]:
    """The comma-separated names in ``value``, each checked against ``valid``; raises
    ``ConfigError`` naming the unknown ones and the choices."""
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ConfigError(f"unknown {what} {', '.join(unknown) or repr(value)}",
                          hint=f"choose from: {', '.join(valid)}")
    return names


def _backbones(request: LaunchRequest) -> list[str]:
    from core.data import layout_features

    if request.backbones:
        return list(request.backbones)
    provided = layout_features(request.layout)
    if provided is not None:
        return [provided]
    if request.grid:
        from core.backbones import backbone_names

        return backbone_names(abdn_only=True)
    return [DEFAULT_BACKBONE]


def _heads(request: LaunchRequest) -> list[str]:
    if request.heads:
        return list(request.heads)
    if request.grid:
        from core.models.registry import head_names

        return head_names(abdn_only=True)
    return [DEFAULT_HEAD]


@dataclass(frozen=True)
class Trials:
    """How each backbone × head combination is repeated: ``seeds`` training seeds (from the
    request's seed on), ``split_seeds`` seeded ABDN 70/30 splits (from its split seed on), or the
    official folds ``splits``. The papers average such repeats."""

    seeds: int = 1
    split_seeds: int = 1
    splits: Sequence[str] = ()

    def axes(self, request: LaunchRequest) -> dict[str, list[Any]]:
        """The trial axes and their values (``{"seed": [0, 1, 2]}``); none for one trial."""
        if self.seeds < 1 or self.split_seeds < 1:
            raise ConfigError("--trials and --split-seeds must be at least 1",
                              hint="for example --trials 3")
        if self.splits and self.split_seeds > 1:
            raise ConfigError("--splits (official folds) and --split-seeds (seeded random "
                              "splits) are two protocols; give one",
                              hint="--splits 1,2,3 for UCF-101's folds, --split-seeds 5 for ABDN's")
        axes: dict[str, list[Any]] = {}
        if self.seeds > 1:
            axes["seed"] = list(range(request.seed, request.seed + self.seeds))
        if self.split_seeds > 1:
            axes["split_seed"] = list(range(request.split_seed,
                                            request.split_seed + self.split_seeds))
        if self.splits:
            axes["split"] = [str(s) for s in self.splits]
        return axes


@dataclass(frozen=True)
class Planned:
    """What a grid registers: its configs in run order, each one's values of the group's axes,
    and the axes with every value they take."""

    configs: list[ExperimentConfig]
    values: list[dict[str, Any]]
    axes: dict[str, list[Any]]
    sampled: tuple[str, ...] = ()  # axes whose values were drawn at random (--sample)


def _combinations(swept: Mapping[str, Sequence[Any]], sample: int | None, seed: int
                  ) -> list[dict[str, Any]]:
    """Every combination of the swept values, or ``sample`` of them drawn at random (seeded;
    a :class:`Range` gives a fresh value each draw), without repeats."""
    if sample is None:
        if any(isinstance(v, Range) for values in swept.values() for v in values):
            raise ConfigError("a range of values is drawn from, not run in full",
                              hint="add --sample N to run N random combinations")
        return [dict(zip(swept, combination)) for combination in itertools.product(*swept.values())]
    if sample < 1:
        raise ConfigError("--sample must be at least 1", hint="for example --sample 20")
    rng = random.Random(seed)
    drawn: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(100 * sample):
        point = {axis: _draw(rng, values) for axis, values in swept.items()}
        key = json.dumps(point, sort_keys=True)
        if key not in seen:
            seen.add(key)
            drawn.append(point)
            if len(drawn) == sample:
                break
    return drawn


def _draw(rng: random.Random, values: Sequence[Any]) -> Any:
    value = rng.choice(list(values))
    return value.draw(rng) if isinstance(value, Range) else value


def plan_grid(request: LaunchRequest, trials: Trials = Trials(), *, sample: int | None = None,
              sample_seed: int = 0) -> Planned:
    """Every trial × swept value × head × backbone of ``request`` (see :func:`build_configs`),
    in that order: the first jobs of a grid are one trial of every cell, and parallel slots
    start different backbones. Raises ``ConfigError``."""
    trial_axes = trials.axes(request)
    fields = set(LaunchRequest.__dataclass_fields__)
    options = parse_options(request.head_options)
    configs: list[ExperimentConfig] = []
    values: list[dict[str, Any]] = []
    chosen = _combinations(request.sweep, sample, sample_seed)
    trial_points = [dict(zip(trial_axes, c)) for c in itertools.product(*trial_axes.values())]
    for point in ({**t, **c} for t in trial_points for c in chosen):  # trials outermost
        changes = {k: v for k, v in point.items() if k in fields}
        head_options = {**options, **{k: v for k, v in point.items() if k not in fields}}
        for config in build_configs(replace(request, **changes, head_options=head_options,
                                            sweep={})):
            configs.append(config)
            values.append({"backbone": config.features.backbone, "head": config.head.name,
                           **point})
    axes = {"backbone": list(dict.fromkeys(v["backbone"] for v in values)),
            "head": list(dict.fromkeys(v["head"] for v in values)), **trial_axes,
            **{axis: list(dict.fromkeys(c[axis] for c in chosen)) for axis in request.sweep}}
    return Planned(configs, values, axes, tuple(request.sweep) if sample else ())


def build_configs(request: LaunchRequest) -> list[ExperimentConfig]:
    """One config per backbone × head of ``request``, head-major (every backbone's run of the
    first head, then of the next): with k parallel slots the first k jobs extract k different
    backbones rather than wait on one extraction. Raises ``ConfigError`` (an ``AvcError``) with
    what is wrong. Nothing is read from disk but the registries of names."""
    if request.sweep:
        raise ConfigError(f"several values given for {', '.join(request.sweep)}",
                          hint="`avc grid` runs every combination; `avc run` takes one value "
                               "each")
    root = Path(str(request.root).strip()).expanduser()
    if not str(request.root).strip():
        raise ConfigError("no dataset folder given", hint="give the folder of the videos")
    annotations = (str(Path(request.annotations).expanduser().resolve())
                   if request.annotations else None)
    sampling = Sampling.parse(request.sampling)
    options = parse_options(request.head_options)
    return [
        ExperimentConfig(
            data=DataConfig(str(root.resolve()), layout=request.layout, split=request.split,
                            split_seed=request.split_seed, annotations=annotations,
                            loading=request.loading),
            features=FeatureConfig(backbone, weights=request.weights,
                                   input_size=request.input_size, sampling=sampling,
                                   init_seed=request.init_seed, resize=request.resize,
                                   precision=request.precision, compile=request.compile),
            head=HeadConfig(head, reduction=request.reduction, frames=request.frames,
                            mask=request.mask, normalize=request.normalize, options=options),
            train=TrainConfig(request.preset, epochs=request.epochs,
                              batch_size=request.batch_size, lr=request.lr, seed=request.seed,
                              device=request.device, precision=request.precision,
                              checkpoint_every=request.checkpoint_every,
                              processes=request.processes),
            name=request.name,
            tags=tuple(request.tags),
        )
        for head in _heads(request) for backbone in _backbones(request)
    ]


def check_launch(configs: Sequence[ExperimentConfig], *, cache_dir: Path | None = None,
                 skip_unreadable: bool = False) -> Dataset:
    """Check what a run needs from disk before anything is registered: the dataset folder holds
    videos in its layout, each video not yet in the feature cache (``cache_dir``) opens and
    decodes its first frame (unless ``skip_unreadable``: then the run leaves such videos out),
    ImageNet weights asked for are in the local caches, and a weights file is there and holds
    tensors. Returns the opened dataset (of the first config; all share it). Raises ``AvcError``.
    """
    from core.backbones import find_imagenet_weights, get_backbone_spec, read_state_dict
    from core.experiment import check_videos, open_dataset

    if not configs:
        raise ConfigError("nothing to launch", hint="choose at least one backbone and one head")
    datasets = {}
    for config in configs:  # each official fold has its own split files
        if config.data not in datasets:
            datasets[config.data] = open_dataset(config)
    dataset = datasets[configs[0].data]
    # FeatureConfig sets the weights of backbones without any (frames, given features) to none.
    for backbone, weights in sorted({(c.features.backbone, c.features.weights)
                                     for c in configs}):
        if weights == "imagenet":
            find_imagenet_weights(get_backbone_spec(backbone))
        elif weights != "none":
            read_state_dict(Path(weights).expanduser())  # a file that is there and holds tensors
    for config in configs:
        _check_head_fits(config)
    if not skip_unreadable:
        check_videos(configs, dataset, cache_dir=cache_dir)
    return dataset


# Bytes per parameter to train one: the weight, its gradient and the optimiser's two moments.
TRAINING_BYTES_PER_PARAMETER = 16


def _check_head_fits(config: ExperimentConfig) -> None:
    """Raise ``ConfigError`` when the head's options make it too large to train in this
    machine's memory (its parameters alone, at the smallest input)."""
    from core.devices import physical_memory
    from core.models.registry import probe_head

    memory = physical_memory()
    if not config.head.options or memory is None:
        return
    parameters = probe_head(config.head.name, config.head.options, config.head.frames)
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    if needed > memory:
        raise ConfigError(
            f"head {config.head.name!r} with these options has {parameters:,} parameters; "
            f"training it needs about {needed / 2**30:,.0f} GiB, more than this machine's "
            f"{memory / 2**30:,.0f} GiB", hint="use smaller sizes, e.g. -o hidden=256")
