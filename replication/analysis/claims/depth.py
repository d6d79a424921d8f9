"""The claim on the hidden layers: alpha does not increase steadily with depth."""

from __future__ import annotations

import numpy as np

from replication.analysis.claims.base import Claim, Evidence, Finding, item, on_every_item
from replication.analysis.claims.last_layer import QUOTE
from replication.analysis.seed_groups import seed_table
from replication.analysis.zscore import rank_noise, spearman


def _depth_rho(table: np.ndarray) -> float:
    """Spearman correlation of the column means of a runs x layers table with the column index."""
    means = table.mean(axis=0)
    return spearman({str(i): float(v) for i, v in enumerate(means)}, {str(i): float(i) for i in range(len(means))})


def depth_trend(e: Evidence) -> Finding | str:
    """Spearman correlation of the seed-mean alpha with depth over the hidden layers (conv layers and avpool) of
    every network with two seeds of every layer, with a bootstrap over its own seeds. The claim is that alpha does
    not rise: per network z is minus the correlation in its noise (rank_noise), so a clear rise does not hold, a
    clear fall holds and a flat or noisy profile is within noise; the claim's z is the weakest network's."""
    groups = [g for g in seed_table(e.params, e.results) if g.n_alpha >= 2]
    if not groups:
        return f"no network has two training seeds with every layer analysed under {e.preset}"
    rng = np.random.default_rng(e.params.claims.bootstrap.seed)
    out, items = [], []
    for g in groups:
        table = g.per_run.to_numpy()[:, 1:-1]  # runs x hidden layers
        runs = len(table)
        boot = [_depth_rho(table[rng.integers(0, runs, runs)]) for _ in range(e.params.claims.bootstrap.samples)]
        low, high = np.quantile(boot, [0.025, 0.975])
        rho, sd = _depth_rho(table), rank_noise(table.shape[1], float(np.std(boot, ddof=1)))
        one = item(g.group, -rho, sd)
        items.append(one)
        out.append({"group": g.group, "rho": rho, "low": float(low), "high": float(high), "sd": sd, "z": one["z"],
                    "runs": runs, "first": float(table[:, 0].mean()), "last": float(table[:, -1].mean())})
    return {"items": items, **on_every_item(items), "groups": out,
            "steady": [x["group"] for x in out if x["low"] > 0], "samples": e.params.claims.bootstrap.samples}


CLAIMS = (
    Claim("alpha_no_steady_rise", QUOTE, "Alpha does not increase steadily over the hidden layers.", depth_trend,
          lambda c: max(x["rho"] for x in c["groups"]),
          "minus the Spearman correlation of the seed-mean alpha with depth; noise: its sd over a bootstrap of the "
          "network's own training seeds (never below that of n unrelated points, 1 / sqrt of n - 1)"),
)
