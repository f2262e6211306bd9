"""The typed experiment configuration: validated on construction, JSON in and out, hashable.

One :class:`ExperimentConfig` says everything needed to reproduce a run: the dataset and its split,
the backbone and how frames are sampled, the head, and the training protocol. Its :meth:`hash` is a
stable digest of the canonical JSON, so equal configs hash equally across processes and machines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from core.choices import LOADINGS, NORMALIZATIONS, REDUCTIONS, RESIZES, check_precision
from core.compat import check_compatible
from core.errors import ConfigError
from core.presets import PRESETS
from core.sampling import Sampling

# The dataset layouts, backbones and heads (PyTorch) are imported where a config is checked, so
# that importing this module (the registry does, for `avc --help` too) loads none of them.
CONFIG_VERSION = 1


@dataclass(frozen=True)
class DataConfig:
    """Which videos, in which layout, split how."""

    root: str
    layout: str = "folders"
    split: str = "abdn"
    split_seed: int = 0
    test_size: float = 0.3
    annotations: str | None = None
    # How YouTube-8M records are read (core.choices.LOADINGS): not part of the hash, a streamed
    # run and an in-memory one are the same experiment (the stream orders the videos its way).
    loading: str = "auto"

    def __post_init__(self) -> None:
        from core.data import layout_names
        from core.data.dataset import LAYOUT_HINT

        if self.layout not in layout_names():
            raise ConfigError(f"unknown dataset layout {self.layout!r}; "
                              f"choose one of: {', '.join(layout_names())}", hint=LAYOUT_HINT)
        if self.loading not in LOADINGS:
            raise ConfigError(f"unknown loading {self.loading!r}",
                              hint="choose auto, memory or stream")
        if self.loading == "stream" and self.layout != "youtube8m":
            raise ConfigError(f"only the youtube8m layout can be streamed, not {self.layout!r}",
                              hint="leave --loading at auto for video datasets (their features "
                                   "are cached per video)")
        if not 0.0 < self.test_size < 1.0:
            raise ConfigError(f"test size must be between 0 and 1, got {self.test_size}")


@dataclass(frozen=True)
class FeatureConfig:
    """Which frozen CNN turns which frames into conv maps."""

    backbone: str = "vgg16"
    weights: str = "imagenet"
    input_size: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    init_seed: int = 0
    resize: str = "area"  # ABDN's cv2 INTER_AREA, or the decoder's "bilinear"
    precision: str = "auto"  # of the CNN's forward pass: see core.precision
    compile: bool = False  # torch.compile the CNN

    def __post_init__(self) -> None:
        from core.backbones import BackboneKind, get_backbone_spec, resolve_input_size

        spec = get_backbone_spec(self.backbone)
        object.__setattr__(self, "backbone", spec.name)
        if spec.kind != BackboneKind.CNN:  # pixels and precomputed features have no weights to choose
            object.__setattr__(self, "weights", "none")
        resolve_input_size(spec, self.input_size)
        if isinstance(self.sampling, dict):
            object.__setattr__(self, "sampling", Sampling.from_dict(self.sampling))
        if self.resize not in RESIZES:
            raise ConfigError(f"unknown resize {self.resize!r}",
                              hint=f"choose one of: {', '.join(RESIZES)}")
        check_precision(self.precision)


@dataclass(frozen=True)
class HeadConfig:
    """The temporal model on top of the features.

    ``frames`` None means the ABDN rule: T = int(mean frame count over all videos).
    ``mask`` False reproduces ABDN (zero-padded frames go through the model like real ones);
    None (the default) is decided by the experiment: masked for layouts that bring their features
    (YouTube-8M's reader masks the padded seconds), unmasked otherwise.
    ``normalize`` is ``none`` (raw features, ABDN), ``dataset`` (z-score every dimension with the
    training set's statistics) or ``video`` (subtract each video's mean over time, then z-score;
    what random-weight backbones need, see :class:`core.sequences.FeatureNormalizer`).
    """

    name: str = "cnn-lstm-attention"
    reduction: str | None = None
    frames: int | None = None
    mask: bool | None = None
    normalize: str = "none"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from core.models import get_head_spec

        spec = get_head_spec(self.name)
        if self.reduction is None:  # the head's own: flatten for ABDN, the maps for spatial heads
            object.__setattr__(self, "reduction", spec.default_reduction)
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f"unknown feature reduction {self.reduction!r}; "
                              f"choose one of: {', '.join(REDUCTIONS)}")
        if self.reduction not in spec.reductions:
            raise ConfigError(f"head {self.name!r} takes the reductions "
                              f"{', '.join(spec.reductions)}, not {self.reduction!r}")
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"frames must be at least 1, got {self.frames}")
        if self.options:
            # Built once on the meta device: a wrong option name or value is an error now, not
            # when the run starts.
            from core.models.registry import probe_head

            probe_head(self.name, self.options, self.frames)
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"unknown feature normalisation {self.normalize!r}; "
                              f"choose one of: {', '.join(NORMALIZATIONS)}")


@dataclass(frozen=True)
class TrainConfig:
    """The protocol: a named preset plus explicit overrides (None keeps the preset's value)."""

    preset: str = "abdn"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # autocast of the head's training steps: see core.precision
    # Epochs between checkpoint.pt writes (the last epoch's always; best.pt whenever it improves).
    checkpoint_every: int = 1
    # Data-parallel training processes (DDP, one per GPU; gloo on the CPU); the batch size is the
    # global one, split between them. Not part of the hash (see core.distributed).
    processes: int = 1

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)}",
                              hint="abdn is the paper's protocol; the README describes both")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be at least 1, got {value}",
                                  hint=f"pass --{name.replace('_', '-')} 1 or more, or leave it "
                                       f"out for the preset's own")
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}",
                              hint="pass a positive --lr such as 1e-3, or leave it out for the "
                                   "preset's own")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
        check_precision(self.precision)
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint every must be at least 1 epoch, got "
                              f"{self.checkpoint_every}", hint="pass --checkpoint-every 1 or more")
        if self.processes < 1:
            raise ConfigError(f"processes must be at least 1, got {self.processes}",
                              hint="pass --processes 1 (one process) or the number of GPUs")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment. Build it with keyword arguments or :meth:`from_dict`/:meth:`from_json`."""

    data: DataConfig
    features: FeatureConfig = field(default_factory=FeatureConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))
        from core.data import layout_features

        provided = layout_features(self.data.layout)
        if self.head.mask is None:
            object.__setattr__(self, "head", replace(self.head, mask=provided is not None))
        check_compatible(self.data.layout, self.features.backbone, self.head.name,
                         self.head.options)
        processes = self.train.processes
        batch = (self.train.batch_size
                 or PRESETS[self.train.preset].batch_size_for(self.features.backbone))
        if processes > 1 and batch < 2 * processes:
            raise ConfigError(f"a batch of {batch} split over {processes} processes leaves a "
                              "process fewer than 2 videos a step (batch norm needs 2)",
                              hint=f"pass --batch-size {2 * processes} or more, or fewer "
                                   "--processes")
        if self.train.processes > 1 and (self.data.layout != "youtube8m"
                                         or self.data.loading == "memory"):
            raise ConfigError("data-parallel training (--processes) reads a streamed "
                              "youtube8m dataset",
                              hint="train video datasets with --processes 1; for youtube8m "
                                   "leave --loading at auto or stream")

    @property
    def display_name(self) -> str:
        return self.name or f"{self.features.backbone}/{self.head.name}"

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values, keys sorted at every level (as in ``config.json``)."""
        out = asdict(self)
        out["features"]["sampling"] = self.features.sampling.to_dict()
        out["tags"] = list(self.tags)
        out["version"] = CONFIG_VERSION
        return _sorted_keys(out)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def hash(self) -> str:
        """A stable hex digest of what the experiment is: not its name, tags, the device it runs
        on or how often it checkpoints (a run resumed on another device is the same
        experiment)."""
        body = self.to_dict()
        body.pop("name")
        body.pop("tags")
        for section, keys in RUN_ONLY.items():  # how a run goes, not what it computes
            for key in keys:
                body[section].pop(key)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def cell(self) -> str:
        """See :func:`cell_key`."""
        return cell_key(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Rebuild a config from :meth:`to_dict` output; raises ``ConfigError`` on bad content."""
        try:
            version = data.get("version", CONFIG_VERSION)
            if version > CONFIG_VERSION:
                raise ConfigError(f"config version {version} is newer than this avc understands "
                                  f"({CONFIG_VERSION})",
                                  hint="update avc (git pull, then pip install -e .)")
            return cls(
                data=_build(DataConfig, data["data"]),
                # Configs written before the resize was recorded were extracted bilinearly;
                # before the precision was, in float32 (avc had not run on a GPU).
                features=_build(FeatureConfig, {"resize": "bilinear", "precision": "fp32",
                                                **data.get("features", {})}),
                head=_build(HeadConfig, data.get("head", {})),
                train=_build(TrainConfig, _train_section(data.get("train", {}))),
                name=data.get("name"),
                tags=tuple(data.get("tags", ())),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"malformed experiment config: {exc}",
                              hint=CONFIG_HINT) from exc

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}", hint=CONFIG_HINT) from exc

    def with_changes(self, **sections: Any) -> ExperimentConfig:
        """A copy with whole sections or section fields replaced, e.g.
        ``cfg.with_changes(head={"name": "cnn-lstm"}, train={"epochs": 5})``."""
        updates = {}
        for key, value in sections.items():
            current = getattr(self, key)
            if isinstance(value, dict) and hasattr(current, "__dataclass_fields__"):
                updates[key] = replace(current, **value)
            else:
                updates[key] = value
        return replace(self, **updates)


CONFIG_HINT = ("a config is the config.json avc writes in each run folder; one changed by hand "
               "or by a newer avc does not read")


def _train_section(values: dict[str, Any]) -> dict[str, Any]:
    """A train section as :class:`TrainConfig` takes it: one written before the precision was
    recorded trained in float32 on the CPU (its ``amp`` only ever applied to CUDA)."""
    if "precision" in values:
        return values
    return {"precision": "fp32", **{k: v for k, v in values.items() if k != "amp"}}


def _build(cls, values: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}",
                          hint=CONFIG_HINT)
    return cls(**values)


def _sorted_keys(value: Any) -> Any:
    """``value`` with the keys of every dict in it sorted."""
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


# Settings that change how a run goes but not what it computes: left out of its hash.
RUN_ONLY = {"train": ("device", "checkpoint_every", "processes"), "data": ("loading",)}
# What differs between the trials of one cell: the training seed, the seed of the ABDN split and
# the official fold.
TRIAL_FIELDS = {"train": ("seed",), "data": ("split_seed", "split")}


def features_key(config: dict[str, Any]) -> str:
    """A digest of what an experiment's cached features depend on (its dataset's videos and its
    ``features`` section): experiments with the same key read the same extraction."""
    data = config.get("data", {})
    body = {"videos": [data.get("root"), data.get("layout"), data.get("annotations")],
            "features": config.get("features", {})}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cell_key(config: dict[str, Any]) -> str:
    """A digest of what an experiment is (a config as :meth:`ExperimentConfig.to_dict` writes
    it), less what varies between trials: experiments with the same key are trials of one cell,
    whose numbers are averaged. An ABDN random split and official folds are different protocols,
    so they stay apart."""
    left_out = {section: {*RUN_ONLY[section], *TRIAL_FIELDS[section]} for section in RUN_ONLY}
    body = {key: value for key, value in config.items() if key not in ("name", "tags")}
    for section, keys in left_out.items():  # shallow copies: the config itself is not changed
        body[section] = {k: v for k, v in config.get(section, {}).items() if k not in keys}
    split = config.get("data", {}).get("split")
    body["data"]["protocol"] = "official" if str(split).isdigit() else split
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
