"""Claims on the last layer's alpha: it tracks the network's accuracy, and it alone rises abruptly."""

from __future__ import annotations

import numpy as np

from replication.analysis.claims.base import Claim, Evidence, Finding, item, on_every_item
from replication.analysis.seed_groups import analysed_targets, seed_targets
from replication.analysis.zscore import network_effect, rank_noise, spearman

FACTOR = 1.5  # "rises abruptly": fc1's alpha above this many times every earlier layer's


def descending(values: dict[str, float]) -> list[str]:
    return sorted(values, key=values.get, reverse=True)


def fc1_tracks_accuracy(e: Evidence) -> Finding | str:
    """Rank correlation of the last layer's alpha with test accuracy over the analysed networks and their
    snapshots. Its noise (rank_noise) is the sd of the correlation when every network is replaced by one of its own
    training seeds (the same weights, final or snapshot), drawn at random (claims.bootstrap), or the no-correlation
    sd of so few networks if larger. Under the original's estimator the fc1 alphas are every target's."""
    params, results = e.params, e.results
    analysed = analysed_targets(params)
    runs = {params.target_config(t).run for t in analysed}
    snapshots = [t for t, tc in params.smoothness.targets.items() if tc.weights == "snapshot" and tc.run in runs]
    last = results.fc1()
    ranked = results.landed(analysed + snapshots, have=last)
    if ranked is None:
        return f"networks still to be computed under {e.preset}"
    if len(ranked) < 4:
        return f"{len(ranked)} networks with a last-layer alpha under {e.preset}: a rank correlation needs 4"

    def accuracy(target: str) -> float:
        tc = params.target_config(target)
        return results.runs.loc[tc.run, "snapshot_accuracy" if tc.weights == "snapshot" else "test_accuracy"]

    fc1 = {t: last[t] for t in ranked}
    acc = {t: accuracy(t) for t in ranked}
    rho = spearman(fc1, acc)
    seeded = {t: seeds for t in ranked
              if len(seeds := [s for s in seed_targets(params, t) if s in last
                                 and params.target_config(s).run in results.runs.index]) > 1}
    boot_sd = None
    if seeded:
        rng = np.random.default_rng(params.claims.bootstrap.seed)
        boot = []
        for _ in range(params.claims.bootstrap.samples):
            draw = {t: seeds[rng.integers(len(seeds))] for t, seeds in seeded.items()}
            boot.append(spearman({t: last[draw.get(t, t)] for t in ranked},
                                 {t: accuracy(draw.get(t, t)) for t in ranked}))
        boot_sd = float(np.std(boot, ddof=1))
    sd = rank_noise(len(ranked), boot_sd)
    one = item("networks and snapshots", rho, sd)
    return {"items": [one], **one, "networks": ranked, "rho": rho, "boot_sd": boot_sd, "seeded": list(seeded),
            "by_alpha": descending(fc1), "by_accuracy": descending(acc), "snapshot_epoch": params.train.snapshot_epoch}


def margin(names: list[str], values: list[float]) -> float:
    """How far the last layer's alpha is above FACTOR times the largest earlier one."""
    return values[-1] - FACTOR * max(values[:-1])


def rises_at_fc1(e: Evidence) -> Finding | str:
    """The last layer's alpha is more than FACTOR times any earlier layer's, in every analysed network: each
    network's seed-mean margin (fc1 - 1.5 x the largest earlier alpha) in the sd over its own seeds; the claim's z
    is the weakest network's."""
    analysed = e.results.landed(analysed_targets(e.params))
    if analysed is None:
        return f"networks still to be computed under {e.preset}"
    if not analysed:
        return f"no network has every layer analysed under {e.preset}"
    rows = [r for t in analysed if (r := network_effect(e.params, e.results, t, margin))]
    items = [item(r["target"], r["effect"], r["sd"], "one training seed analysed") for r in rows]
    return {"items": items, **on_every_item(items), "rows": rows, "count": sum(r["effect"] > 0 for r in rows),
            "of": len(rows), "factor": FACTOR}


QUOTE = ("I expected to see alpha smoothness increasing gradually from layer to layer, but it is not improving much "
         "and only for the last layer it increases abruptly.")

CLAIMS = (
    Claim("fc1_alpha_tracks_accuracy",
          "We can see that the last layer smoothness strongly correlates with performance of a network.",
          "The last layer's alpha ranks the networks as their test accuracy does.", fc1_tracks_accuracy,
          lambda c: c["rho"],
          "Spearman correlation; noise: its sd when each network is replaced by one of its own training seeds "
          "(never below that of n unrelated points, 1 / sqrt of n - 1)"),
    Claim("alpha_rises_abruptly_at_fc1", QUOTE,
          "Only the last layer's alpha rises abruptly: above 1.5 times every earlier layer's.", rises_at_fc1,
          lambda c: min(r["effect"] for r in c["rows"]),
          "alpha (fc1's minus 1.5 times the largest earlier layer's, seed mean); noise: its sd over the network's "
          "own training seeds"),
)
