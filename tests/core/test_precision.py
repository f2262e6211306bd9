"""--precision and --compile: what ``auto`` resolves to, features of different precision in
different cache entries, configs written before the precision was recorded, and the run's
record of what it used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core import precision as precision_mod
from core.backbones import build_backbone, compile_backbone
from core.backbones import network as network_mod
from core.config import ExperimentConfig
from core.errors import ConfigError
from core.experiment import run_experiment
from core.features import ExtractionSpec
from core.precision import autocast, cpuinfo_has_bf16, resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_is_bf16_on_cpus_with_native_bf16_else_fp32(monkeypatch) -> None:
    monkeypatch.setattr(precision_mod, "native_cpu_bf16", lambda: True)
    assert resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(precision_mod, "native_cpu_bf16", lambda: False)
    assert resolve_precision("auto", CPU) == "fp32"
    for chosen in ("fp32", "bf16", "fp16"):
        assert resolve_precision(chosen, CPU) == chosen  # a choice stays a choice
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", CPU)


def test_auto_on_cuda_is_fp16_or_bf16_where_fp16_may_overflow(monkeypatch) -> None:
    assert resolve_precision("auto", CUDA) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", CUDA, fp16_safe=False) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", CUDA, fp16_safe=False) == "fp32"


def test_the_cpu_flags_say_which_cpus_have_native_bf16() -> None:
    zen4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n"
    sapphire = "flags\t\t: avx512f amx_tile amx_bf16\n"
    graviton3 = "Features\t: fp asimd sve bf16 i8mm\n"
    skylake = "flags\t\t: fpu avx2 avx512f avx512bw\n"
    assert cpuinfo_has_bf16(zen4) and cpuinfo_has_bf16(sapphire) and cpuinfo_has_bf16(graviton3)
    assert not cpuinfo_has_bf16(skylake) and not cpuinfo_has_bf16("")


def test_autocast_runs_matrix_products_in_the_precision() -> None:
    a = torch.randn(4, 4)
    with autocast(CPU, "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert (a @ a).dtype == torch.float32


def test_features_of_different_precision_never_share_a_cache_entry() -> None:
    def key(**options) -> str:
        return ExtractionSpec.create("tinycnn", weights="none", input_size=32, device="cpu",
                                     **options).key()

    fp32, bf16, compiled = key(precision="fp32"), key(precision="bf16"), key(compile=True)
    assert len({fp32, bf16, compiled, key(precision="fp16")}) == 4
    # fp32 without compilation is the entry avc wrote before precisions existed.
    assert "precision" not in ExtractionSpec.create("tinycnn", weights="none",
                                                    input_size=32).identity()
    # Frames and precomputed features have no network: no precision to choose.
    pixels = ExtractionSpec.create("pixels", input_size=32, precision="bf16", compile=True)
    assert (pixels.precision, pixels.compile) == ("fp32", False)


def test_a_config_from_before_the_precision_reads_as_fp32(easy_dataset: Path,
                                                          easy_config) -> None:
    config = easy_config(easy_dataset)
    assert (config.features.precision, config.train.precision) == ("auto", "auto")
    old = config.to_dict()
    for section in ("features", "train"):
        old[section].pop("precision")
    old["features"].pop("compile")
    old["train"].pop("checkpoint_every")
    old["train"]["amp"] = True
    again = ExperimentConfig.from_dict(old)
    assert (again.features.precision, again.train.precision) == ("fp32", "fp32")
    # How often a run checkpoints is not what it computes.
    sparse = config.with_changes(train={"checkpoint_every": 5})
    assert sparse.hash() == config.hash() and sparse.cell() == config.cell()
    assert config.with_changes(train={"precision": "bf16"}).hash() != config.hash()
    with pytest.raises(ConfigError, match="unknown precision"):
        config.with_changes(features={"precision": "half"})
    with pytest.raises(ConfigError, match="at least 1 epoch"):
        config.with_changes(train={"checkpoint_every": 0})


def test_a_run_records_the_precisions_it_used(easy_dataset: Path, tmp_path: Path,
                                              easy_config) -> None:
    config = easy_config(easy_dataset, epochs=2, precision="bf16")
    assert (config.features.precision, config.train.precision) == ("bf16", "bf16")
    result = run_experiment(config, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache",
                            num_workers=0)
    body = json.loads((tmp_path / "run" / "result.json").read_text())
    assert body["precision"] == result.precision == {"features": "bf16", "training": "bf16"}
    assert [p.name.split("-")[0] for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [
        "tinycnn"]


def test_compile_needs_a_cpu_compiler_and_says_so(monkeypatch) -> None:
    backbone = build_backbone("tinycnn", weights="none", input_size=32)
    monkeypatch.setattr(network_mod.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="needs a C\\+\\+ compiler") as error:
        compile_backbone(backbone, CPU)
    assert "leave --compile out" in error.value.hint


@pytest.mark.slow
def test_a_compiled_backbone_extracts_the_eager_features(easy_dataset: Path,
                                                         tmp_path: Path) -> None:
    from core.features import FeatureCache, extract_features

    if network_mod.shutil.which("g++") is None:
        pytest.skip("no C++ compiler for torch.compile on the CPU")
    videos = sorted(easy_dataset.rglob("*.mp4"))[:3]
    cache = FeatureCache(tmp_path / "cache")
    eager = ExtractionSpec.create("tinycnn", weights="none", input_size=32, precision="fp32")
    compiled = ExtractionSpec.create("tinycnn", weights="none", input_size=32,
                                     precision="fp32", compile=True)
    first = extract_features(videos, eager, cache, device="cpu", num_workers=0)
    second = extract_features(videos, compiled, cache, device="cpu", num_workers=0)
    assert second.extracted == 3  # its own entries, not the eager ones
    for video in videos:
        a = cache.load(eager, first.hashes[video]).features.astype("float32")
        b = cache.load(compiled, second.hashes[video]).features.astype("float32")
        assert abs(a - b).max() <= 1e-2


def test_show_says_what_the_precision_resolved_to(tmp_path: Path, easy_dataset: Path,
                                                  easy_config) -> None:
    from typer.testing import CliRunner

    from avc_tui.cli import app
    from avc_tui.registry import Registry

    db = str(tmp_path / "experiments.db")
    with Registry(db) as registry:
        row = registry.create(easy_config(easy_dataset), runs_root=tmp_path / "runs")
        registry.finish(row.id, "finished", result={
            "test": {"top1": 0.5}, "precision": {"features": "bf16", "training": "fp32"}})
    shown = CliRunner().invoke(app, ["show", str(row.id), "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "features bf16, training fp32 (asked: auto, auto)" in shown.stdout
