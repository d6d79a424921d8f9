"""The estimator's settings: every choice that moves alpha, the named presets of params.yaml, and the
sections that run them (smoothness, mislabel).

Settings only (no numerics, no sklearn): the smoothness and mislabel stages validate these, and the wavelets
module uses the Estimator model. A preset is data: params.yaml's smoothness.presets.NAME lists the fields that
differ from Estimator's defaults and, optionally, `layers`: `all` (the default) or `last`, the layers it
analyses on every target; a target's own `layers` (smoothness.targets.NAME.layers: all or last) overrides it
for every preset, so a change of coverage reruns that target's stages only (the last layer takes seconds, every
layer minutes to hours).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from replication.core import settings as core
from replication.core.errors import UserError
from replication.core.settings import (
    MAX_INT,
    ConfigError,
    Fraction,
    Name,
    NonNegative,
    Section,
    Seed,
    Str,
    describe_errors,
    short,
)
from replication.networks import settings as networks
from replication.networks.settings import Weights

MAX_TREES = 1000  # 100 times the original's 10: about 100 h per layer on 2 cores under as_run; more is a typo
Count = Annotated[int, Field(ge=1, le=MAX_INT)]
LAYERS = "layers"  # the one key of a preset that is not an estimator field: all or last
Coverage = Literal["all", "last"]


class EstimatorError(UserError):
    """Input the estimator cannot use; the message says which and what to do."""


class Estimator(BaseModel):
    """Random-forest geometric-wavelet estimator settings (params.yaml's smoothness.presets name combinations)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    n_trees: Annotated[int, Field(ge=1, le=MAX_TREES)] = 10  # trees in the forest
    max_features: str = "all"  # candidates per split: "all", "sqrt" or a fraction such as "0.5"
    max_depth: Annotated[int, Field(ge=0, le=MAX_INT)] = 0  # 0 = grow until leaves are pure
    bootstrap: bool = True  # bootstrap sample of N rows per tree (sklearn's default)
    seed: Seed = 21  # forest random_state
    drop_last_label: bool = True  # one-hot labels without the last column (class 9 = zero vector)
    root_bug: bool = True  # the original's norm |C - 2 C_root| for the two children of each root
    norm: Literal["volume", "empirical"] = "volume"  # box volume in the unit cube, or sample fraction
    m_start: Count = 2  # first M of the grid
    m_stop: Count = 1000  # grid end (exclusive)
    m_step: Count = 10  # grid step
    x_offset: Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)] = -1  # abscissa = M + x_offset (the original logged M - 1)
    error: Literal["squared", "l2"] = "squared"  # fit the mean squared residual norm, or its root

    @field_validator("max_features")
    @classmethod
    def _max_features(cls, value: str) -> str:
        max_features_arg(value)
        return value

    @model_validator(mode="after")
    def _grid(self) -> Estimator:
        if self.m_stop <= self.m_start:
            raise ValueError(f"m_stop ({self.m_stop}) must be larger than m_start ({self.m_start})")
        if self.m_start + self.x_offset < 1:
            raise ValueError(f"m_start + x_offset is {self.m_start + self.x_offset}; the abscissa is logged, "
                             "so it must be at least 1")
        return self


def max_features_arg(value: str) -> str | float | None:
    """sklearn's max_features for a setting: None (all), 'sqrt' or a fraction in (0, 1]."""
    if value == "all":
        return None
    if value == "sqrt":
        return "sqrt"
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0 < fraction <= 1:
        raise ValueError(f"max_features must be 'all', 'sqrt' or a fraction in (0, 1], got {value!r}")
    return fraction


def from_fields(fields: Any, where: str) -> Estimator:
    """The Estimator a preset's fields (its `layers` aside) describe; EstimatorError naming `where` and the key."""
    if not isinstance(fields, dict):
        raise EstimatorError(f"{where} must be a mapping of estimator fields, got {short(fields)}")
    if "targets" in fields:
        raise EstimatorError(f"{where}: `targets` is gone; give the preset `layers: last` and the targets that get "
                             f"every layer `layers: all` (smoothness.targets.NAME.layers)")
    unknown = sorted(set(fields) - set(Estimator.model_fields) - {LAYERS})
    if unknown:
        raise EstimatorError(f"{where}: unknown estimator field {short(unknown[0])}; fields: "
                             f"{', '.join(Estimator.model_fields)} (and {LAYERS})")
    if fields.get(LAYERS, "all") not in ("all", "last"):
        raise EstimatorError(f"{where}: {LAYERS} must be 'all' or 'last', got {short(fields[LAYERS])}")
    try:
        return Estimator.model_validate({k: v for k, v in fields.items() if k != LAYERS})
    except ValidationError as err:
        raise EstimatorError(f"{where}: {describe_errors(err)}") from None


def estimator(preset: str, overrides: dict[str, Any] | None = None,
              params_file: str | Path = core.PARAMS_FILE) -> Estimator:
    """params.yaml's preset `preset` with `overrides` applied (the library's and the benchmarks' way to name
    one); unknown names, fields or values fail clearly."""
    presets = core.read(params_file).get("smoothness", {}).get("presets", {})
    if not isinstance(presets, dict) or preset not in presets:
        known = ", ".join(presets) if isinstance(presets, dict) else "none"
        raise EstimatorError(f"unknown estimator preset {short(preset)}; known ({params_file}): {known}")
    fields = {k: v for k, v in presets[preset].items() if k != LAYERS}
    return from_fields({**fields, **dict(overrides or {})}, f"preset {preset!r}")


class TargetConfig(Section):
    run: Name  # key into `runs`
    weights: Weights
    layers: Coverage | None = None  # all or last under every preset; None: each preset's own `layers`


class SmoothnessConfig(Section):
    # name -> estimator fields that differ from the defaults, and optionally `layers` (all or last) on every target
    # unless the target says otherwise; stages smoothness@PRESET-TARGET for every target
    presets: Annotated[dict[Name, dict[Str, Any]], Field(min_length=1)]
    lead: Name  # the preset that the report and the claims lead with: a view of the results
    original: Name  # the preset that is the original code's estimator: its numbers stand beside the original's
    limit_samples: NonNegative  # 0 = all 50,000 training images; >0 keeps the first N
    targets: dict[Name, TargetConfig]  # representations that get per-layer alphas

    @field_validator("presets")
    @classmethod
    def _presets(cls, presets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, fields in presets.items():
            try:
                from_fields(fields, f"preset {name!r}")
            except EstimatorError as err:
                raise ValueError(str(err)) from None
        return presets

    def estimator(self, preset: str) -> Estimator:
        """The Estimator of `preset`, or a ConfigError naming the known presets."""
        return from_fields(core.lookup(self.presets, preset, "smoothness.presets"), f"preset {preset!r}")

    def every_layer(self, preset: str) -> tuple[str, ...]:
        """The targets whose every layer `preset` analyses (on the others: the last layer), in targets' order."""
        default = core.lookup(self.presets, preset, "smoothness.presets").get(LAYERS, "all")
        return tuple(t for t, tc in self.targets.items() if (tc.layers or default) == "all")

    @property
    def ordered(self) -> tuple[str, ...]:
        """Every preset, the lead first, then the others as params.yaml lists them."""
        return tuple(dict.fromkeys((self.lead, *self.presets)))


class MislabelConfig(Section):
    # keys into `runs`: the clean network whose representation is relabelled (its numbers lead), then other
    # training seeds of the same network, studied the same way (stage mislabel@RUN-PRESET-RATE)
    runs: Annotated[tuple[Name, ...], Field(min_length=1)]
    weights: Weights
    layer: Str  # probe whose representation is studied
    rates: tuple[Fraction, ...]  # fractions of rows whose labels are shuffled
    presets: tuple[Name, ...]  # estimator presets run at every rate (keys of smoothness.presets)
    seeds: Annotated[tuple[Seed, ...], Field(min_length=1)]  # shuffle + forest seeds
    retrain: tuple[Fraction, ...] = ()  # beyond the original: rates at which mislabel.run is retrained
    retrain_preset: Name = "as_reported"  # the estimator preset of the retrained layers (fixed: the lead is a view)

    @property
    def run(self) -> str:
        """The network whose numbers the study leads with (the first of `runs`)."""
        return self.runs[0]

    @property
    def seed_runs(self) -> tuple[str, ...]:
        """The other training seeds it is compared with."""
        return self.runs[1:]


class Params(networks.Params):
    smoothness: SmoothnessConfig
    mislabel: MislabelConfig

    def target_config(self, name: str) -> TargetConfig:
        """The smoothness target called `name`."""
        return core.lookup(self.smoothness.targets, name, "smoothness.targets")


def check(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    networks.check(p, source)
    sm = p.smoothness
    for name, target in sm.targets.items():
        core.need(source, target.run, p.runs, f"smoothness.targets.{name}.run", "runs")
    for key in ("lead", "original"):
        core.need(source, getattr(sm, key), sm.presets, f"smoothness.{key}", "smoothness.presets")
    ml = p.mislabel
    for preset in ml.presets:
        core.need(source, preset, sm.presets, "mislabel.presets[]", "smoothness.presets")
    core.need(source, ml.retrain_preset, sm.presets, "mislabel.retrain_preset", "smoothness.presets")
    core.need(source, ml.run, p.runs, "mislabel.runs[0]", "runs")
    for run in ml.seed_runs:
        core.need(source, run, p.runs, "mislabel.runs[]", "runs")
        if p.runs[run].network != p.runs[ml.run].network or ml.runs.count(run) > 1 or run == ml.run:
            raise ConfigError(f"{source}: mislabel.runs entry {run!r} must be another run of the first entry's "
                              f"network ({ml.run}: {p.runs[ml.run].network}), named once")


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """The estimator floor's settings (the training floor's included) from an already-loaded mapping."""
    params = core.validate(Params, raw, source)
    check(params, source)
    return params


def load(path: str | Path = core.PARAMS_FILE) -> Params:
    """Load and validate params.yaml's training and estimator sections."""
    return parse(core.read(path), str(path))
