"""The analysis's settings: params.yaml's overfit, suggest and claims sections (which runs each claim compares).

Read by the overfit, suggest and metrics stages; the estimator's and the training's sections come with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, Strict

from replication.core import settings as core
from replication.core.settings import ConfigError, Name, Section, Seed
from replication.estimator import settings as estimator


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


class ClaimsConfig(Section):
    converge: tuple[Name, Name]  # runs whose restored epochs the "ResNet converges faster" claim compares
    pruned: tuple[Name, ...]  # modified runs the "pruned networks do as well" claim uses
    bootstrap: BootstrapConfig  # the seed bootstrap of the depth-trend claim


class Params(estimator.Params):
    overfit: OverfitConfig
    suggest: SuggestConfig
    claims: ClaimsConfig


def check(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    estimator.check(p, source)
    for key in ("run", "baseline"):
        name = getattr(p.overfit, key)
        target = p.smoothness.targets.get(name)
        if name not in p.runs or target is None or target.run != name or target.weights != "final":
            raise ConfigError(
                f"{source}: overfit.{key} {name!r} must name a run and a smoothness target of the same "
                "name with its final weights"
            )
    for run, target in p.suggest.derived.items():
        core.need(source, run, p.runs, "suggest.derived key", "runs")
        core.need(source, target, p.smoothness.targets, f"suggest.derived.{run}", "smoothness.targets")
    for run in (*p.claims.converge, *p.claims.pruned):
        core.need(source, run, p.runs, "claims.converge/pruned entry", "runs")


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """The analysis floor's settings (the estimator's and the training's included) from a loaded mapping."""
    params = core.validate(Params, raw, source)
    check(params, source)
    return params


def load(path: str | Path = core.PARAMS_FILE) -> Params:
    """Load and validate params.yaml's training, estimator and analysis sections."""
    return parse(core.read(path), str(path))
