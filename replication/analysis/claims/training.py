"""Claims on accuracies and epochs alone (no estimator preset can move them): the ResNet converges faster, and
the networks pruned by the smoothness analysis do as well. Each compares two networks' seed means, so each noise
is the standard error of that difference (zscore.se_of_difference)."""

from __future__ import annotations

import itertools

from replication.analysis.claims.base import Claim, Evidence, Finding, item, on_every_item
from replication.analysis.seed_groups import mean_sd, seed_runs
from replication.analysis.zscore import se_of_difference

TOLERANCE = 0.01  # "almost the same": within 1 point of accuracy


def _seeds(e: Evidence, run: str) -> list[str]:
    return [r for r in seed_runs(e.params, run) if r in e.results.runs.index]


def _one_seed(*groups: tuple[str, list]) -> str:
    return "; ".join(f"one training seed of {name}" for name, values in groups if len(values) < 2)


def converges_faster(e: Evidence) -> Finding | str:
    """The first run of claims.converge is restored at an earlier epoch than the second: the gap of the two seed
    means, in epochs, in its standard error."""
    first, second = e.params.claims.converge
    a, b = ([int(e.results.runs.restored_epoch[r]) for r in _seeds(e, run)] for run in (first, second))
    if not a or not b:
        return f"{first if not a else second} has not been trained"
    effect, noise = mean_sd(b).mean - mean_sd(a).mean, se_of_difference(a, b)
    earlier = sum(x < y for x, y in itertools.product(a, b))
    original = [e.orig.get("runs", {}).get(r, {}).get("restored_epoch") for r in (first, second)]
    one = item(f"{first} vs {second}", effect, noise, _one_seed((first, a), (second, b)))
    return {"items": [one], **one, "networks": [first, second], "epochs": [a, b],
            "means": [mean_sd(a), mean_sd(b)], "earlier_pairs": earlier, "pairs": len(a) * len(b),
            "original_epochs": original}


def pruned_as_good(e: Evidence) -> Finding | str:
    """Each network of claims.pruned is within TOLERANCE of the network it was derived from, or better: per pair
    the gap of the seed means plus the tolerance, in its standard error; the claim's z is the weakest pair's."""
    items, pairs = [], []
    for source, s in e.results.suggestions.items():
        src = [e.results.runs.test_accuracy[r] for r in _seeds(e, e.params.target_config(source).run)]
        for mod in s["modified"]:
            if mod["run"] not in e.params.claims.pruned:
                continue
            acc = [e.results.runs.test_accuracy[r] for r in _seeds(e, mod["run"])]
            gap = mean_sd(acc).mean - mean_sd(src).mean
            one = item(f"{mod['run']} vs {source}", gap + TOLERANCE, se_of_difference(acc, src),
                       _one_seed((mod["run"], acc), (source, src)))
            items.append(one)
            pairs.append({**one, "run": mod["run"], "from": source, "accuracy": mean_sd(acc),
                          "from_accuracy": mean_sd(src), "seeds": [len(acc), len(src)], "gap": gap,
                          "params": mod["params"], "from_params": s["params"]})
    if not items:
        return "no pruned network has been trained"
    return {"items": items, **on_every_item(items, "pair"),
            "pairs": pairs, "count": sum(p["gap"] > -TOLERANCE for p in pairs), "tolerance_points": 100 * TOLERANCE}


CLAIMS = (
    Claim("resnet_converges_faster",
          "As expected the ResNet12 converged faster. It was training for 30 epochs in contrary to 44 epochs for the "
          "plain model.",
          "ResNet12 is restored at an earlier epoch than Plain12.", converges_faster,
          lambda c: c["effect"],
          "epochs (Plain12's mean restored epoch minus ResNet12's); noise: the standard error of that difference "
          "over both networks' training seeds", uses_alpha=False),
    Claim("smaller_networks_do_as_well",
          "Here we can see that relying on smoothness analysis we can get a smaller network that performs almost "
          "the same or even better than the initial one.",
          "Each pruned network is within 1 point of test accuracy of its initial network, or better.", pruned_as_good,
          lambda c: c["count"] / len(c["pairs"]),
          "test accuracy (the pruned network's seed mean minus the initial one's, plus 0.01); noise: the standard "
          "error of the difference of the two seed means", uses_alpha=False),
)
