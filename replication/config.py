"""params.yaml loaded into frozen, typed config objects.

Every section of params.yaml maps onto one frozen dataclass. Loading checks every key: an unknown,
missing or mistyped key fails with the file, the dotted key and the expected type, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ConfigError(ValueError):
    """A params file that does not match the expected schema."""


@dataclass(frozen=True)
class BaseConfig:
    device: str  # "auto" (CUDA when present), "cpu" or "cuda"
    threads: int  # torch CPU threads; 0 = torch's default
    deterministic: bool  # deterministic algorithms (CPU results are bit-identical run to run)
    channels_last: bool  # NHWC memory layout for convs (faster on CPU; measured in bench/)


@dataclass(frozen=True)
class DataConfig:
    root: str  # folder with the canonical CIFAR-10 arrays (tracked by data.dvc)
    val_size: int  # validation images taken from the 50,000 training images
    split_seed: int  # seed of the train/validation permutation
    mean: tuple[float, ...]  # per-channel mean subtracted from images in [0, 1]
    std: tuple[float, ...]  # per-channel divisor (the original used 1, i.e. no scaling)
    limit_train: int  # 0 = all training images; >0 keeps the first N (tiny test runs)
    limit_test: int  # 0 = all test images


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int  # images per optimiser step (also for evaluation)
    patience: int  # validation epochs without improvement before stopping
    gate_patience: int  # consecutive train-loss decreases that open the original's gate
    snapshot_epoch: int  # epoch whose weights are kept as the early snapshot (0 = none)
    eval_batch_size: int  # images per forward pass when evaluating


@dataclass(frozen=True)
class RunConfig:
    network: str  # key into `networks`
    seed: int  # initialisation and batch-order seed
    stopping: str  # "as_coded" (original code), "patience" (report text) or "none"
    max_epochs: int  # hard cap on epochs


@dataclass(frozen=True)
class NetworkConfig:
    title: str  # the name the original report uses
    activation: str  # "relu" or "tanh"
    lr: float  # Adam learning rate
    layers: tuple[str, ...]  # layer specs, see replication/nets.py


@dataclass(frozen=True)
class TargetConfig:
    run: str  # key into `runs`
    weights: str  # "final" (restored best) or "snapshot" (epoch-`snapshot_epoch` weights)


@dataclass(frozen=True)
class SmoothnessConfig:
    preset: str  # estimator preset (replication/wavelets.py PRESETS)
    overrides: dict[str, Any]  # estimator fields that replace the preset's
    n_jobs: int  # forest fitting processes (results do not depend on it)
    limit_samples: int  # 0 = all 50,000 training images; >0 keeps the first N
    targets: dict[str, TargetConfig]  # representations that get per-layer alphas


@dataclass(frozen=True)
class MislabelConfig:
    run: str  # key into `runs`: the clean network whose representation is relabelled
    weights: str  # "final" or "snapshot"
    layer: str  # probe whose representation is studied
    rates: tuple[float, ...]  # fractions of rows whose labels are shuffled
    presets: tuple[str, ...]  # estimator presets run at every rate
    seeds: tuple[int, ...]  # shuffle + forest seeds; spread over them is reported
    retrain: tuple[float, ...] = ()  # beyond the original: rates at which mislabel.run is retrained on
    #                                  shuffled labels and alpha taken per layer; () = off


@dataclass(frozen=True)
class OverfitConfig:
    run: str  # key into `runs` and smoothness.targets: the long run without early stopping
    baseline: str  # key into `runs` and smoothness.targets: the early-stopped run it is compared with


@dataclass(frozen=True)
class SuggestConfig:
    min_drop: float  # alpha falls smaller than this are not reported
    pairs: dict[str, tuple[str, ...]]  # smoothness target -> runs of the networks modified from it


@dataclass(frozen=True)
class ReportConfig:
    title: str  # report title
    seed_groups: dict[str, tuple[str, ...]]  # network -> runs that differ only by seed


@dataclass(frozen=True)
class Params:
    base: BaseConfig
    data: DataConfig
    train: TrainConfig
    networks: dict[str, NetworkConfig]
    runs: dict[str, RunConfig]
    smoothness: SmoothnessConfig
    mislabel: MislabelConfig
    overfit: OverfitConfig
    suggest: SuggestConfig
    report: ReportConfig

    def run(self, name: str) -> RunConfig:
        """The run called `name`, or a ConfigError listing the known runs."""
        return _lookup(self.runs, name, "runs")

    def network(self, name: str) -> NetworkConfig:
        """The network called `name`, or a ConfigError listing the known networks."""
        return _lookup(self.networks, name, "networks")

    def target(self, name: str) -> TargetConfig:
        """The smoothness target called `name`."""
        return _lookup(self.smoothness.targets, name, "smoothness.targets")


def _lookup(table: dict, name: str, where: str):
    if name not in table:
        raise ConfigError(f"unknown name {name!r} in {where}; known: {', '.join(sorted(table))}")
    return table[name]


CHOICES = {
    "base.device": ("auto", "cpu", "cuda"),
    "runs.*.stopping": ("as_coded", "patience", "none"),
    "networks.*.activation": ("relu", "tanh"),
    "smoothness.targets.*.weights": ("final", "snapshot"),
    "mislabel.weights": ("final", "snapshot"),
}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check `value` against the annotation `tp` and return it in its frozen form."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail(extra: str = "") -> ConfigError:
        hint = ""
        if isinstance(value, str) and tp in (float, int):
            try:
                float(value)
                hint = " (YAML reads 5e-4 as a string: write 5.0e-4)"
            except ValueError:
                pass
        return ConfigError(
            f"{source}: key '{key}' must be {_type_name(tp)}, got {type(value).__name__} "
            f"{value!r}{hint}{extra}"
        )

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail()
        return _build(tp, value, key, source)
    if tp is Any:
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise fail()
        key_tp, val_tp = args
        return {
            _convert(k, key_tp, f"{key}.{k}", source): _convert(v, val_tp, f"{key}.{k}", source)
            for k, v in value.items()
        }
    if origin is tuple:
        if not isinstance(value, list):
            raise fail()
        return tuple(_convert(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _convert(value, option, key, source)
            except ConfigError:
                continue
        raise fail()
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if not isinstance(value, tp):
        raise fail()
    return value


def _check_choice(key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    for pattern, allowed in CHOICES.items():
        pat = pattern.split(".")
        if len(pat) == len(parts) and all(p in ("*", q) for p, q in zip(pat, parts, strict=False)):
            if value not in allowed:
                raise ConfigError(
                    f"{source}: key '{key}' is {value!r}; expected one of {', '.join(allowed)}"
                )


def _build(cls: type, section: dict, prefix: str, source: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"{source}: unknown key '{where}{unknown[0]}'; expected keys: {', '.join(fields)}"
        )
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in section:
            if f.default is not dataclasses.MISSING:
                continue
            raise ConfigError(f"{source}: missing key '{key}' ({_type_name(hints[name])})")
        values[name] = _convert(section[name], hints[name], key, source)
        _check_choice(key, values[name], source)
    return cls(**values)


def parse(raw: dict, source: str = "params.yaml") -> Params:
    """Build Params from an already-loaded mapping, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    params = _build(Params, raw, "", source)
    _check_references(params, source)
    return params


def _check_references(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    for name, run in p.runs.items():
        if run.network not in p.networks:
            raise ConfigError(
                f"{source}: runs.{name}.network is {run.network!r}, which is not in networks "
                f"({', '.join(p.networks)})"
            )
    for name, target in p.smoothness.targets.items():
        if target.run not in p.runs:
            raise ConfigError(
                f"{source}: smoothness.targets.{name}.run is {target.run!r}, which is not in runs"
            )
    if p.mislabel.run not in p.runs:
        raise ConfigError(f"{source}: mislabel.run {p.mislabel.run!r} is not in runs")
    for key in ("rates", "retrain"):
        for rate in getattr(p.mislabel, key):
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{source}: mislabel.{key} holds {rate}; rates are fractions in [0, 1]")
    if not p.mislabel.seeds:
        raise ConfigError(f"{source}: mislabel.seeds is empty; give at least one seed, e.g. [0]")
    for key in ("run", "baseline"):
        name = getattr(p.overfit, key)
        target = p.smoothness.targets.get(name)
        if name not in p.runs or target is None or target.run != name or target.weights != "final":
            raise ConfigError(
                f"{source}: overfit.{key} {name!r} must name a run and a smoothness target of the same "
                "name with its final weights"
            )
    for target, runs in p.suggest.pairs.items():
        if target not in p.smoothness.targets:
            raise ConfigError(f"{source}: suggest.pairs key {target!r} is not a smoothness target")
        for run in runs:
            if run not in p.runs:
                raise ConfigError(f"{source}: suggest.pairs.{target} names unknown run {run!r}")
    for group, runs in p.report.seed_groups.items():
        for run in runs:
            if run not in p.runs:
                raise ConfigError(f"{source}: report.seed_groups.{group} names unknown run {run!r}")


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Load and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found; run from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    return parse(raw, str(path))


def as_dict(obj: Any) -> Any:
    """A config object as plain JSON-able containers (for provenance and fingerprints)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_dict(v) for v in obj]
    return obj
