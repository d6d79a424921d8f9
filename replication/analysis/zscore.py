"""One rule for every claim: an effect in units of its own noise (z), and the verdict z alone decides.

z >= NOISE_SDS holds, z <= -NOISE_SDS does not hold, anything between is within noise; without a measured noise
a claim is inconclusive. Every noise is the claim's own: `network_effect` measures one network's effect in the sd of
the same quantity over that network's training seeds, `se_of_difference` is the noise of a gap between two networks'
seed means, `rank_noise` the noise of a rank correlation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import spearmanr

from replication.analysis import settings as cfg
from replication.analysis.seed_groups import mean_sd, seed_targets

if TYPE_CHECKING:  # annotations only (see seed_groups)
    from replication.analysis.results import Results

NOISE_SDS = 2.0  # a difference "exceeds the seed noise" when it is at least this many seed sds
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
WITHIN_NOISE = "within noise"  # |z| < NOISE_SDS: the noise could have made the effect, either way


def z_of(effect: float, sd: float | None) -> float | None:
    """An effect in units of its noise (None when there is no noise to measure it in)."""
    return float(effect / sd) if sd is not None and sd > 0 else None


def z_verdict(z: float | None) -> str:
    """The one rule, the same for every claim and preset. z is the claim's effect in units of its own noise,
    positive the way the original claims: z >= 2 holds, z <= -2 does not hold, anything between is within
    noise (its sign decides nothing); no z (no noise measured, or too few networks) is inconclusive."""
    if z is None:
        return INCONCLUSIVE
    return HOLDS if z >= NOISE_SDS else FAILS if z <= -NOISE_SDS else WITHIN_NOISE


def weakest(zs: list[float | None]) -> float | None:
    """A claim on every network holds as far as its weakest network does (None when any has no noise)."""
    return None if not zs or any(z is None for z in zs) else min(zs)


def rank_noise(n: int, boot_sd: float | None = None) -> float:
    """The noise of a rank correlation over n points: its bootstrap sd over training seeds, but never less than
    its sd under no correlation at all, 1 / sqrt(n - 1) (seeds that never reorder the points do not make a
    correlation of a handful of points exact)."""
    return max(boot_sd or 0.0, 1.0 / float(np.sqrt(n - 1)))


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    """Spearman rank correlation of two scores over the same keys (scipy's: tied values share their mean rank)."""
    keys = list(a)
    return float(spearmanr([a[k] for k in keys], [b[k] for k in keys]).statistic)


Quantity = Callable[[list[str], list[float]], "float | None"]  # one run's layer names and alphas -> a number


def se_of_difference(a: list[float], b: list[float]) -> float | None:
    """The standard error of the difference of two seed means, sqrt(sd_a^2 / n_a + sd_b^2 / n_b): the noise of a
    gap between two networks each trained several times (None unless both have two seeds)."""
    if len(a) < 2 or len(b) < 2:
        return None
    return float(np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b)))


def network_effect(params: cfg.Params, results: Results, target: str, quantity: Quantity) -> dict | None:
    """One network's effect and its own noise: the mean and sd over its training seeds (seed_targets: the same
    weights of every seed) of `quantity`. A network with one seed analysed has its one value and no noise (never
    another network's). None when a layer the quantity needs is missing."""
    seeds = [t for t in seed_targets(params, target) if results.has(t)]
    values = [quantity(rows.layer.tolist(), rows.alpha.tolist()) for rows in map(results.layers, seeds)]
    if not values or None in values:
        return None
    effect, sd = mean_sd(values)
    sd = sd if len(values) >= 2 else None
    return {"target": target, "effect": effect, "sd": sd, "z": z_of(effect, sd), "runs": len(values),
            "values": values}
