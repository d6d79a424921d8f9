"""Training seeds as groups: which runs a study shows, and the mean and spread over the seeds of a network.

Params.seed_groups names the runs that differ only by their seed (the first is the run shown on its own);
the claims, the fidelity tables and the figures measure noise in these groups. The per-layer statistics
are a groupby of the alphas table over the group's runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from replication.analysis import settings as cfg

if TYPE_CHECKING:  # annotations only: the overfit stage, which imports claims, does not depend on the tables
    import pandas as pd

    from replication.analysis.results import Results


class Stat(NamedTuple):
    mean: float
    sd: float


class LayerStat(NamedTuple):
    layer: str
    mean: float
    sd: float


def mean_sd(values) -> Stat:
    """Mean and sample sd (0 for a single value), in the order given (numpy's summation)."""
    arr = np.asarray(values, dtype=float)
    return Stat(float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0)


def in_sds(diff: float, sd: float) -> float | None:
    """|diff| in units of sd (None when sd is 0)."""
    return abs(diff) / sd if sd > 0 else None


def single_runs(params: cfg.Params) -> list[str]:
    """Runs shown one by one: every run except extra seeds and the long run without early stopping."""
    extra = {r for runs in params.seed_groups.values() for r in runs[1:]}
    return [r for r, run_cfg in params.runs.items() if r not in extra and run_cfg.stopping != "none"]


def analysed_targets(params: cfg.Params) -> list[str]:
    """Final-weight targets of single runs: no extra seeds, no epoch snapshots, no overfit run."""
    runs = set(single_runs(params))
    return [t for t, tc in params.smoothness.targets.items() if tc.weights == "final" and tc.run in runs]


def seed_runs(params: cfg.Params, run: str) -> tuple[str, ...]:
    """The run and the other seeds of its network (its seed group), or the run alone."""
    return next((runs for runs in params.seed_groups.values() if run in runs), (run,))


def seed_targets(params: cfg.Params, target: str) -> list[str]:
    """The smoothness targets holding the same weights (final or snapshot) of every seed of `target`'s network,
    `target` first: the training seeds a claim about that network measures its noise over."""
    tc = params.target_config(target)
    runs = seed_runs(params, tc.run)
    same = {(o.run, o.weights): t for t, o in params.smoothness.targets.items()}
    return [target, *(t for r in runs if (t := same.get((r, tc.weights))) is not None and t != target)]


@dataclass(frozen=True)
class SeedGroup:
    """One network trained with several seeds: spreads of accuracy, restored epoch, snapshot accuracy and,
    over the runs with alphas (`per_run`: runs x layers), of every layer's alpha."""
    group: str
    runs: tuple[str, ...]
    accuracies: list[float]
    epochs: list[int]
    accuracy: Stat
    epoch: Stat
    snapshot: Stat
    per_run: pd.DataFrame
    alpha: list[LayerStat]

    @property
    def n_alpha(self) -> int:
        return len(self.per_run)

    def layer_stats(self) -> dict[str, Stat]:
        return {s.layer: Stat(s.mean, s.sd) for s in self.alpha}


def _alphas_of(results: Results, runs: tuple[str, ...]) -> pd.DataFrame:
    """The main preset's rows of these runs' final-weight targets (named as the runs), in the group's order."""
    order = {run: i for i, run in enumerate(runs)}
    table = results.layers_of(list(runs))
    return table.assign(order=table.target.map(order)).sort_values(["order", "position"], kind="stable")


def seed_table(params: cfg.Params, results: Results) -> list[SeedGroup]:
    """Mean and spread over seeds of accuracy, restored epoch, snapshot accuracy and per-layer alpha."""
    groups = []
    for group, runs in params.seed_groups.items():
        rows = results.runs.loc[list(runs)]
        table = _alphas_of(results, runs)
        per_layer = table.groupby("position", sort=True).agg(
            layer=("layer", "first"), mean=("alpha", lambda a: mean_sd(a).mean), sd=("alpha", lambda a: mean_sd(a).sd))
        groups.append(SeedGroup(
            group=group, runs=runs, accuracies=rows.test_accuracy.tolist(), epochs=rows.restored_epoch.tolist(),
            accuracy=mean_sd(rows.test_accuracy), epoch=mean_sd(rows.restored_epoch),
            snapshot=mean_sd(rows.snapshot_accuracy),
            per_run=table.pivot(index="target", columns="position", values="alpha").reindex(
                [r for r in runs if r in set(table.target)]),
            alpha=[LayerStat(r.layer, r.mean, r.sd) for r in per_layer.itertuples()]))
    return groups


def by_first_run(seeds: list[SeedGroup]) -> dict[str, SeedGroup]:
    """The seed_table groups with at least two analysed seeds, keyed by their first run (the single run whose
    spread they measure)."""
    return {g.runs[0]: g for g in seeds if g.n_alpha >= 2}


def mislabel_spread(params: cfg.Params, results: Results) -> dict[str, list[dict]]:
    """Per preset and rate: the mean fc1 alpha over training seeds (mislabel.runs), their sd, and the mean
    shuffle-and-forest sd within one network: which of the two moves alpha more. {} when no other training
    seed was studied."""
    if not params.mislabel.seed_runs:
        return {}
    stats = results.mislabel.groupby(["preset", "rate"], sort=False).agg(
        runs=("run", "size"), mean=("alpha_mean", lambda a: mean_sd(a).mean),
        train_sd=("alpha_mean", lambda a: mean_sd(a).sd), shuffle_sd=("alpha_std", lambda a: float(np.mean(a))))
    out: dict[str, list[dict]] = {}
    for (preset, rate), row in stats.iterrows():
        out.setdefault(preset, []).append({"rate": float(rate), "runs": int(row.runs), "mean": float(row["mean"]),
                                           "train_sd": float(row.train_sd), "shuffle_sd": float(row.shuffle_sd)})
    return out
