"""Training seeds as groups: which runs a study shows, and the mean and spread over the seeds of a network.

`report.seed_groups` names, per network, the runs that differ only by their seed (the first is the
run shown on its own); the claims, the fidelity tables and the figures measure noise in these groups.
"""

from __future__ import annotations

import numpy as np

from replication import config as cfg


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample sd (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def in_sds(diff: float, sd: float) -> float | None:
    """|diff| in units of sd (None when sd is 0)."""
    return abs(diff) / sd if sd > 0 else None


def single_runs(params: cfg.Params) -> list[str]:
    """Runs shown one by one: every run except extra seeds and the long run without early stopping."""
    extra = {r for runs in params.report.seed_groups.values() for r in runs[1:]}
    return [r for r, run_cfg in params.runs.items() if r not in extra and run_cfg.stopping != "none"]


def analysed_targets(params: cfg.Params) -> list[str]:
    """Final-weight targets of single runs: no extra seeds, no epoch snapshots, no overfit run."""
    runs = set(single_runs(params))
    return [t for t, tc in params.smoothness.targets.items() if tc.weights == "final" and tc.run in runs]


def seed_table(params: cfg.Params, results: dict) -> list[dict]:
    """Mean and spread over seeds of accuracy, restored epoch, snapshot accuracy and per-layer alpha."""
    rows = []
    for group, runs in params.report.seed_groups.items():
        metrics = [results["runs"][r]["metrics"] for r in runs]
        acc = [m["test_accuracy"] for m in metrics]
        epochs = [m["restored_epoch"] for m in metrics]
        snaps = [m.get("snapshot") for m in metrics]
        with_alpha = [r for r in runs if r in results["alphas"]]
        layers = [row["layer"] for row in results["alphas"][with_alpha[0]]["layers"]] if with_alpha else []
        per_layer = [(layer, *mean_sd([results["alphas"][r]["layers"][i]["alpha"] for r in with_alpha]))
                     for i, layer in enumerate(layers)]
        per_run = {r: [row["alpha"] for row in results["alphas"][r]["layers"]] for r in with_alpha}
        rows.append({"group": group, "runs": runs, "accuracy": mean_sd(acc), "epoch": mean_sd(epochs),
                     "per_run_alpha": per_run,
                     "accuracies": acc, "epochs": epochs,
                     "snapshot": mean_sd([s["test_accuracy"] for s in snaps]) if all(snaps) else None,
                     "alpha": per_layer, "n_alpha": len(with_alpha)})
    return rows


def by_first_run(seeds: list[dict]) -> dict[str, dict]:
    """The seed_table groups with at least two analysed seeds, keyed by their first run (the single run whose
    spread they measure)."""
    return {g["runs"][0]: g for g in seeds if g["n_alpha"] >= 2}
