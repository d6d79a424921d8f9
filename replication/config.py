"""params.yaml loaded into frozen, validated settings (pydantic models, one per section).

Loading checks every key: an unknown, missing or mistyped key, a size that is not positive or a
choice outside its table fails with the file, the dotted key, the value and what is allowed, so a
typo never silently falls back to a default. The tables of choices live in the modules that
implement them (stopping rules, estimator presets) or here (activations, weights); nowhere twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, field_validator

from replication.errors import UserError
from replication.estimator import MAX_INT, EstimatorError, PresetName, Seed, describe_errors, estimator
from replication.files import NAME_PATTERN, load_yaml, read_regular

PARAMS_FILE = Path("params.yaml")

# Every integer is bounded (numpy, torch and sklearn take 64-bit or smaller integers; seeds below 2**32);
# floats are finite (Section forbids NaN and infinity).
Positive = Annotated[int, Strict(), Field(ge=1, le=MAX_INT)]
NonNegative = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]  # 0 means "all" or "default" where a comment says so
Float = Annotated[float, Strict()]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Str = Annotated[str, Strict(), StringConstraints(max_length=500)]
# A name that becomes part of a result path (runs, networks, targets, seed groups, figures): one pattern
Name = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN, max_length=64)]
MAX_THREADS = 1024  # torch starts this many threads; more is a typo
Bool = Annotated[bool, Strict()]
Activation = Literal["relu", "tanh"]  # torch functions of these names (replication/nets.py)
Weights = Literal["final", "snapshot"]  # restored best weights, or the epoch-`snapshot_epoch` snapshot
StoppingRule = Literal["as_coded", "patience", "none"]  # replication/stopping.py's RULES (a test ties them)


class ConfigError(UserError, ValueError):
    """A params file that does not match the expected schema."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BaseConfig(Section):
    device: Literal["auto", "cpu", "cuda"]  # "auto" = CUDA when present
    threads: Annotated[int, Strict(), Field(ge=0, le=MAX_THREADS)]  # torch CPU threads; 0 = torch's default
    deterministic: Bool  # deterministic algorithms (CPU results are bit-identical run to run)
    channels_last: Bool  # NHWC memory layout for convs (faster on CPU; measured in bench/)


class DataConfig(Section):
    root: Str  # folder with the canonical CIFAR-10 arrays (tracked by data.dvc)
    val_size: Positive  # validation images taken from the 50,000 training images
    split_seed: Seed  # seed of the train/validation permutation
    mean: tuple[Float, ...]  # per-channel mean subtracted from images in [0, 1] (3 values)
    std: tuple[Float, ...]  # per-channel divisor (the original used 1, i.e. no scaling)
    limit_train: NonNegative  # 0 = all training images; >0 keeps the first N (tiny test runs)
    limit_test: NonNegative  # 0 = all test images

    @field_validator("mean", "std")
    @classmethod
    def _per_channel(cls, values: tuple[float, ...], info) -> tuple[float, ...]:
        if len(values) != 3:
            raise ValueError(f"must hold 3 values, one per colour channel, not {len(values)}")
        if info.field_name == "std" and min(values) <= 0:
            raise ValueError("every std must be positive (images are divided by it)")
        return values


class TrainConfig(Section):
    batch_size: Positive  # images per optimiser step
    patience: Positive  # validation epochs without improvement before stopping
    gate_patience: NonNegative  # consecutive train-loss decreases that open the original's gate
    snapshot_epoch: Positive  # epoch whose weights are kept as the early snapshot
    eval_batch_size: Positive  # images per forward pass when evaluating (does not change results)


class RunConfig(Section):
    network: Name  # key into `networks`
    seed: Seed  # initialisation and batch-order seed
    stopping: StoppingRule = "as_coded"  # "as_coded" (original code), "patience" (report text) or "none"
    max_epochs: Positive = 100  # hard cap on epochs


class NetworkConfig(Section):
    activation: Activation = "relu"
    lr: Annotated[float, Strict(), Field(gt=0.0)] = 1.0e-3  # Adam learning rate
    layers: tuple[Str, ...]  # layer specs, see replication/nets.py


class TargetConfig(Section):
    run: Name  # key into `runs`
    weights: Weights


class OriginalEstimatorConfig(Section):
    preset: PresetName  # the original code's estimator (all features per split)
    targets: tuple[Name, ...]  # the networks it runs on: names of smoothness.targets


class SmoothnessConfig(Section):
    # estimators run on every target (replication/estimator.py PRESETS), each its own stages smoothness@PRESET-TARGET
    presets: Annotated[tuple[PresetName, ...], Field(min_length=1)]
    lead: PresetName  # the one of presets that the report and the claims lead with: a view of the results
    original: OriginalEstimatorConfig  # a costly estimator on a few targets: stage smoothness_original@TARGET
    overrides: dict[Str, Any]  # estimator fields that replace every preset's
    limit_samples: NonNegative  # 0 = all 50,000 training images; >0 keeps the first N
    targets: dict[Name, TargetConfig]  # representations that get per-layer alphas

    @field_validator("overrides")
    @classmethod
    def _estimator(cls, overrides: dict[str, Any], info) -> dict[str, Any]:
        for preset in info.data.get("presets", ()):  # a bad preset is reported on its own
            try:
                estimator(preset, overrides)
            except EstimatorError as err:
                raise ValueError(str(err)) from None
        return overrides

    @property
    def all_presets(self) -> tuple[str, ...]:
        """Every estimator preset the pipeline runs, the lead first and the original's last (one shared
        input-layer stage each)."""
        return (self.lead, *(p for p in self.presets if p != self.lead), self.original.preset)

    def targets_of(self, preset: str) -> dict[str, TargetConfig]:
        """The targets analysed under `preset` ({} when it is not run)."""
        if preset in self.presets:
            return self.targets
        return {t: self.targets[t] for t in self.original.targets} if preset == self.original.preset else {}

    def stage(self, preset: str, target: str) -> str:
        """The DVC stage that computes `target` under `preset`."""
        return f"smoothness_original@{target}" if preset == self.original.preset else f"smoothness@{preset}-{target}"

    def input_stage(self, preset: str) -> str:
        """The DVC stage that computes the input layer's alpha under `preset`."""
        return "smoothness_original_input" if preset == self.original.preset else f"smoothness_input@{preset}"


class MislabelConfig(Section):
    # keys into `runs`: the clean network whose representation is relabelled (its numbers lead), then other
    # training seeds of the same network, studied the same way (stage mislabel@RUN-PRESET-RATE)
    runs: Annotated[tuple[Name, ...], Field(min_length=1)]
    weights: Weights
    layer: Str  # probe whose representation is studied
    rates: tuple[Fraction, ...]  # fractions of rows whose labels are shuffled
    presets: tuple[PresetName, ...]  # estimator presets run at every rate
    seeds: Annotated[tuple[Seed, ...], Field(min_length=1)]  # shuffle + forest seeds
    retrain: tuple[Fraction, ...] = ()  # beyond the original: rates at which mislabel.run is retrained

    @property
    def run(self) -> str:
        """The network whose numbers the study leads with (the first of `runs`)."""
        return self.runs[0]

    @property
    def seed_runs(self) -> tuple[str, ...]:
        """The other training seeds it is compared with."""
        return self.runs[1:]


class OverfitConfig(Section):
    run: Name  # key into `runs` and smoothness.targets: the long run without early stopping
    baseline: Name  # key into `runs` and smoothness.targets: the early-stopped run it is compared with


class SuggestConfig(Section):
    min_drop: Annotated[float, Strict(), Field(ge=0.0)]  # alpha falls smaller than this are not reported
    derived: dict[Name, Name]  # run of a network the report derived from a smoothness target -> that target

    @property
    def pairs(self) -> dict[str, tuple[str, ...]]:
        """Smoothness target -> the runs derived from it, in the order `derived` lists them."""
        out: dict[str, list[str]] = {}
        for run, target in self.derived.items():
            out.setdefault(target, []).append(run)
        return {target: tuple(runs) for target, runs in out.items()}


class BootstrapConfig(Section):
    samples: Annotated[int, Strict(), Field(ge=1, le=1_000_000)]  # resamples of the seed runs
    seed: Seed  # the resampling seed


class ReportConfig(Section):
    title: Str  # report title
    titles: dict[Name, Str] = {}  # network -> display name where default_title's is not the one wanted
    converge: tuple[Name, Name]  # runs whose restored epochs the "ResNet converges faster" claim compares
    pruned: tuple[Name, ...]  # modified runs the "pruned networks do as well" claim uses
    main_targets: tuple[Name, ...]  # smoothness targets of the first alpha figure
    overlays: dict[Name, dict[Name, Name]]  # figure -> pairs of targets drawn on one axis (first: second)
    bootstrap: BootstrapConfig  # the seed bootstrap of the depth-trend claim


class Params(Section):
    base: BaseConfig
    data: DataConfig
    train: TrainConfig
    networks: dict[Name, NetworkConfig]
    runs: dict[Name, RunConfig]
    smoothness: SmoothnessConfig
    mislabel: MislabelConfig
    overfit: OverfitConfig
    suggest: SuggestConfig
    report: ReportConfig

    def run_config(self, name: str) -> RunConfig:
        """The run called `name`, or a ConfigError listing the known runs."""
        return _lookup(self.runs, name, "runs")

    def network_config(self, name: str) -> NetworkConfig:
        """The network called `name`, or a ConfigError listing the known networks."""
        return _lookup(self.networks, name, "networks")

    def network_title(self, network: str) -> str:
        """The display name of a network: report.titles, else default_title."""
        return self.report.titles.get(network) or default_title(network)

    def run_title(self, run: str) -> str:
        """The display name of a run's network."""
        return self.network_title(self.run_config(run).network)

    @property
    def seed_groups(self) -> dict[str, tuple[str, ...]]:
        """Runs that differ only by their seed (same network, same stopping rule), in order of seed, keyed by
        the first (the run shown on its own); networks trained once form no group."""
        groups: dict[tuple[str, str], list[str]] = {}
        for name, run in self.runs.items():
            groups.setdefault((run.network, run.stopping), []).append(name)
        ordered = (sorted(runs, key=lambda r: self.runs[r].seed) for runs in groups.values())
        return {runs[0]: tuple(runs) for runs in ordered if len(runs) > 1}

    def target_config(self, name: str) -> TargetConfig:
        """The smoothness target called `name`."""
        return _lookup(self.smoothness.targets, name, "smoothness.targets")


_FAMILIES = {"resnet": "ResNet", "plain": "Plain"}
_SUFFIXES = {"tanh": "with tanh", "noavgpool": "no AvPool"}


def default_title(network: str) -> str:
    """A network key as the original report names it: resnet12_tanh -> 'ResNet12 with tanh', plain6_noavgpool ->
    'Plain6 no AvPool'; a key outside that scheme is its own title."""
    head, *tail = network.split("_")
    family = next((f for f in _FAMILIES if head.startswith(f) and head[len(f):].isdigit()), None)
    if family is None or any(t not in _SUFFIXES for t in tail):
        return network
    return " ".join([_FAMILIES[family] + head[len(family):], *(_SUFFIXES[t] for t in tail)])


def _lookup(table: dict, name: str, where: str):
    if name not in table:
        raise ConfigError(f"unknown name {name!r} in {where}; known: {', '.join(sorted(table))}")
    return table[name]


def _check_references(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    def need(name: str, table: dict, key: str, where: str) -> None:
        if name not in table:
            raise ConfigError(f"{source}: {key} is {name!r}, which is not in {where} ({', '.join(table)})")

    for name, run in p.runs.items():
        need(run.network, p.networks, f"runs.{name}.network", "networks")
        if p.train.snapshot_epoch > run.max_epochs:
            raise ConfigError(f"{source}: train.snapshot_epoch ({p.train.snapshot_epoch}) is beyond "
                              f"runs.{name}.max_epochs ({run.max_epochs})")
    for name, target in p.smoothness.targets.items():
        need(target.run, p.runs, f"smoothness.targets.{name}.run", "runs")
    sm = p.smoothness
    twice = next((p for p in sm.presets if sm.presets.count(p) > 1), None)
    if twice is not None:
        raise ConfigError(f"{source}: smoothness.presets lists {twice!r} twice; name each preset once")
    if sm.original.preset in sm.presets:
        raise ConfigError(f"{source}: smoothness.original.preset {sm.original.preset!r} is also in smoothness.presets: "
                          f"smoothness@{sm.original.preset}-TARGET and smoothness_original@TARGET would write the same "
                          "files; drop it from one of the two")
    if sm.lead not in sm.presets:
        raise ConfigError(f"{source}: smoothness.lead {sm.lead!r} is not in smoothness.presets "
                          f"({', '.join(sm.presets)}); the lead is one of the presets run on every target")
    try:
        estimator(sm.original.preset, sm.overrides)
    except EstimatorError as err:
        raise ConfigError(f"{source}: smoothness.overrides with smoothness.original.preset: {err}") from None
    for name in sm.original.targets:
        need(name, sm.targets, "smoothness.original.targets[]", "smoothness.targets")
    first = p.mislabel.run
    need(first, p.runs, "mislabel.runs[0]", "runs")
    for run in p.mislabel.seed_runs:
        need(run, p.runs, "mislabel.runs[]", "runs")
        if p.runs[run].network != p.runs[first].network or p.mislabel.runs.count(run) > 1 or run == first:
            raise ConfigError(f"{source}: mislabel.runs entry {run!r} must be another run of the first entry's "
                              f"network ({first}: {p.runs[first].network}), named once")
    for key in ("run", "baseline"):
        name = getattr(p.overfit, key)
        target = p.smoothness.targets.get(name)
        if name not in p.runs or target is None or target.run != name or target.weights != "final":
            raise ConfigError(
                f"{source}: overfit.{key} {name!r} must name a run and a smoothness target of the same "
                "name with its final weights"
            )
    for run, target in p.suggest.derived.items():
        need(run, p.runs, "suggest.derived key", "runs")
        need(target, p.smoothness.targets, f"suggest.derived.{run}", "smoothness.targets")
    for network in p.report.titles:
        need(network, p.networks, "report.titles key", "networks")
    for run in (*p.report.converge, *p.report.pruned):
        need(run, p.runs, "report.converge/pruned entry", "runs")
    overlaid = (t for pairs in p.report.overlays.values() for pair in pairs.items() for t in pair)
    for name in (*p.report.main_targets, *overlaid):
        need(name, p.smoothness.targets, "report.main_targets/overlays entry", "smoothness.targets")


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """Build Params from an already-loaded mapping, checking every key, type and reference."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        hint = ""
        if any(e["type"] == "float_type" and isinstance(e["input"], str) for e in err.errors()):
            hint = " (YAML reads 5e-4 as a string: write 5.0e-4)"
        raise ConfigError(f"{source}: {describe_errors(err)}{hint}") from None
    _check_references(params, source)
    return params


def load(path: str | Path = PARAMS_FILE) -> Params:
    """Load and validate params.yaml (a regular file of bounded size; YAML without duplicate keys or
    alias bombs)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found; run from the repository root")
    try:
        raw = load_yaml(read_regular(path, MAX_PARAMS_BYTES, "a params file").decode("utf-8"), str(path))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except UserError as err:
        raise ConfigError(str(err)) from None
    return parse(raw, str(path))


MAX_PARAMS_BYTES = 1 << 20  # params.yaml is about 15 KB
