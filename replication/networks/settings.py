"""The settings of the networks and their training: params.yaml's base, data, train, networks and runs.

What a training stage validates and depends on; nothing here knows of estimators, claims or the report.
The tables of choices live in the modules that implement them (stopping rules, activations; a test ties them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, Strict

from replication.core import settings as core
from replication.core.settings import (
    BaseConfig,
    ConfigError,
    DataConfig,
    Name,
    NonNegative,
    Positive,
    Section,
    Sections,
    Seed,
    Str,
)

Activation = Literal["relu", "tanh"]  # torch functions of these names (replication/networks/nets.py)
Weights = Literal["final", "snapshot"]  # restored best weights, or the epoch-`snapshot_epoch` snapshot
StoppingRule = Literal["as_coded", "patience", "none"]  # replication/networks/stopping.py's RULES (a test ties them)
__all__ = ["Activation", "BaseConfig", "ConfigError", "DataConfig", "NetworkConfig", "Params", "RunConfig",
           "StoppingRule", "TrainConfig", "Weights", "load", "parse"]


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
    layers: tuple[Str, ...]  # layer specs, see replication/networks/nets.py


class Params(Sections):
    base: BaseConfig
    data: DataConfig
    train: TrainConfig
    networks: dict[Name, NetworkConfig]
    runs: dict[Name, RunConfig]

    def run_config(self, name: str) -> RunConfig:
        """The run called `name`, or a ConfigError listing the known runs."""
        return core.lookup(self.runs, name, "runs")

    def network_config(self, name: str) -> NetworkConfig:
        """The network called `name`, or a ConfigError listing the known networks."""
        return core.lookup(self.networks, name, "networks")

    @property
    def seed_groups(self) -> dict[str, tuple[str, ...]]:
        """Runs that differ only by their seed (same network, same stopping rule), in order of seed, keyed by
        the first (the run shown on its own); networks trained once form no group."""
        groups: dict[tuple[str, str], list[str]] = {}
        for name, run in self.runs.items():
            groups.setdefault((run.network, run.stopping), []).append(name)
        ordered = (sorted(runs, key=lambda r: self.runs[r].seed) for runs in groups.values())
        return {runs[0]: tuple(runs) for runs in ordered if len(runs) > 1}


def check(p: Params, source: str) -> None:
    """Names that point into other sections must exist there."""
    for name, run in p.runs.items():
        core.need(source, run.network, p.networks, f"runs.{name}.network", "networks")
        if p.train.snapshot_epoch > run.max_epochs:
            raise ConfigError(f"{source}: train.snapshot_epoch ({p.train.snapshot_epoch}) is beyond "
                              f"runs.{name}.max_epochs ({run.max_epochs})")


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """The training floor's settings from an already-loaded mapping."""
    params = core.validate(Params, raw, source)
    check(params, source)
    return params


def load(path: str | Path = core.PARAMS_FILE) -> Params:
    """Load and validate params.yaml's training sections."""
    return parse(core.read(path), str(path))
