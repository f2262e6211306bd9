"""Sweep files: a grid written down (TOML or JSON), for `avc grid --config FILE`.

Fixed settings are plain values, swept ones are lists, head options are a table; the trials and
the group's name sit beside them::

    root = "data/ucf101"
    layout = "ucf101"
    backbones = ["vgg16", "resnet50"]
    heads = ["cnn-lstm", "cnn-lstm-attention"]
    weights = "imagenet"
    lr = [1e-3, 3e-4]           # or "1e-4..1e-2:log" with sample = 10
    splits = ["1", "2", "3"]
    group_name = "UCF-101 folds, two learning rates"

    [options]
    hidden = [128, 256]

Every key is a command-line option of `avc grid` with ``_`` for ``-``; ``root`` and
``annotations`` are relative to the file's folder.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from avc_tui.control.launch import LaunchRequest, Trials, make_request
from core.errors import ConfigError

HINT = "see the sweep file example in the README (Trials and groups)"
TRIAL_KEYS = ("trials", "split_seeds", "splits")


def read_sweep_file(path: str | Path
                    ) -> tuple[LaunchRequest, Trials, str | None, int | None, int]:
    """The launch request (with its swept axes), the trials, the group name, and how many
    combinations to draw (``sample``, None for all) with which seed, as a sweep file holds them.
    Raises ``ConfigError`` for a file that is missing, unreadable or has unknown keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the sweep file {path}: {error.strerror or error}",
                          hint="check the path") from error
    try:
        body: dict[str, Any] = (json.loads(text) if path.suffix == ".json"
                                else tomllib.loads(text))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                          f"{error}", hint=HINT) from error
    if not isinstance(body, dict) or "root" not in body:
        raise ConfigError(f"{path} names no dataset (root = \"...\")", hint=HINT)
    options = body.pop("options", {}) or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: options must be a table of head options", hint=HINT)
    try:
        trials = Trials(int(body.pop("trials", 1)), int(body.pop("split_seeds", 1)),
                        [str(s) for s in _listed(body.pop("splits", []))])
        sample = body.pop("sample", None)
        sample = int(sample) if sample is not None else None
        sample_seed = int(body.pop("sample_seed", 0))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path}: trials, split_seeds, sample and sample_seed must be whole "
                          f"numbers ({error})", hint=HINT) from error
    name = body.pop("group_name", None)
    for key in ("backbones", "heads", "tags"):
        if key in body:
            body[key] = tuple(_listed(body[key]))
    pairs = [f"{key}=" + ",".join(v if isinstance(v, str) else json.dumps(v)
                                  for v in _listed(value))
             for key, value in options.items()]
    # Paths in the file are relative to the file's folder.
    root = path.parent / Path(body.pop("root")).expanduser()
    if body.get("annotations"):
        body["annotations"] = path.parent / Path(body["annotations"]).expanduser()
    request = make_request(root, head_options=pairs, grid=True, **body)
    return request, trials, name, sample, sample_seed


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
