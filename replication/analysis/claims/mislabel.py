"""The mislabel study's claim: the more labels are shuffled, the lower the last layer's alpha."""

from __future__ import annotations

import numpy as np

from replication.analysis.claims.base import Claim, Evidence, Finding, item
from replication.analysis.seed_groups import mean_sd
from replication.analysis.zscore import weakest


def _falls(values: list[float]) -> bool:
    return all(a > b for a, b in zip(values, values[1:], strict=False))


def mislabel_lowers(e: Evidence) -> Finding | str:
    """The last layer's alpha falls at every step of the shuffled fraction. Each step's fall is the mean over the
    network's training seeds (mislabel.runs) of each seed's fall, in the larger of two noises of that network's
    own: the sd of the fall over its training seeds, and the shuffle-and-forest sd of the fall (the two rates'
    sds over the shuffle seeds, added in quadrature). The claim's z is the weakest step's."""
    params, results = e.params, e.results
    by_run = results.mislabel_runs(e.preset)
    if params.mislabel.run not in by_run:
        return f"the mislabel study was not run under {e.preset} (mislabel.presets)"
    rates = list(params.mislabel.rates)
    run_means = {run: [r["alpha_mean"] for r in rows] for run, rows in by_run.items()}
    sds = [r["alpha_std"] for r in by_run[params.mislabel.run]]
    means = [mean_sd([m[i] for m in run_means.values()]).mean for i in range(len(rates))]
    items, steps = [], []
    for i in range(len(rates) - 1):
        falls = [m[i] - m[i + 1] for m in run_means.values()]
        fall, train_sd = mean_sd(falls)
        shuffle_sd = float(np.hypot(sds[i], sds[i + 1]))
        noise = max(train_sd if len(falls) > 1 else 0.0, shuffle_sd)
        one = item(f"{rates[i]:g} to {rates[i + 1]:g}", fall, noise or None, "no spread over seeds")
        items.append(one)
        steps.append({**one, "train_sd": train_sd if len(falls) > 1 else None, "shuffle_sd": shuffle_sd})
    z = weakest([i["z"] for i in items])
    worst = min(items, key=lambda i: i["z"]) if z is not None else None
    return {"items": items, "z": z, "effect": worst and worst["effect"], "noise": worst and worst["noise"],
            "note": "" if worst else "a step without spread", "steps": steps, "networks": list(run_means),
            "rates": rates, "means": means, "first_means": run_means[params.mislabel.run],
            "monotone": _falls(means), "gap": means[0] - means[-1],
            "runs_monotone": sum(_falls(m) for m in run_means.values())}


CLAIMS = (
    Claim("mislabel_lowers_alpha",
          "As expected, the amount of mislabeled data has a negative correlation with the alpha smoothness.",
          "The more labels are shuffled, the lower the last layer's alpha: it falls at every step.", mislabel_lowers,
          lambda c: c["gap"],
          "alpha of fc1 (its fall from one shuffled fraction to the next, mean over the training seeds); noise: the "
          "larger of its sd over the training seeds and its shuffle-and-forest sd"),
)
