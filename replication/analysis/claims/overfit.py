"""The overfitting study's claim: after 100 epochs without early stopping, alpha is mostly lower in the conv layers
and higher in the last layer than in the early-stopped network."""

from __future__ import annotations

import numpy as np

from replication.analysis.claims.base import Claim, Evidence, Finding, item
from replication.analysis.seed_groups import mean_sd, seed_targets
from replication.analysis.zscore import se_of_difference, weakest


def layer_differences(long_alphas: list[dict], base_alphas: list[dict]) -> list[dict]:
    """Per layer: alpha of the overfitted and the early-stopped network and their difference (long minus
    early-stopped)."""
    base = {row["layer"]: row["alpha"] for row in base_alphas}
    return [
        {"layer": row["layer"], "overfit": row["alpha"], "baseline": base.get(row["layer"]),
         "difference": row["alpha"] - base[row["layer"]] if row["layer"] in base else None}
        for row in long_alphas
    ]


def conv_lower(layers: list[dict]) -> dict:
    """How many conv layers of a layer_differences table are lower in the overfitted network."""
    conv = [row for row in layers if row["layer"].startswith("conv") and row["difference"] is not None]
    return {"conv_layers_lower": sum(row["difference"] < 0 for row in conv), "conv_layers": len(conv)}


def _per_layer(e: Evidence, target: str) -> dict[str, list[float]]:
    """layer -> its alpha in every seed of `target`'s network analysed under the preset, in seed order."""
    out: dict[str, list[float]] = {}
    for t in seed_targets(e.params, target):
        if e.results.has(t):
            rows = e.results.layers(t)
            for layer, alpha in zip(rows.layer, rows.alpha, strict=True):
                out.setdefault(layer, []).append(alpha)
    return out


def overfit_pattern(e: Evidence) -> Finding | str:
    """Per conv layer and fc1: the overfitted network's seed mean minus the early-stopped one's (conv layers
    claimed lower, fc1 higher: the sign makes the claimed direction positive), in the standard error of that
    difference over both networks' seeds. The claim's z is the weaker of the median conv layer's and fc1's."""
    o = e.results.overfit
    if not o:
        return "the overfit stage has not run"
    if not e.results.has(o["run"]) or not e.results.has(o["baseline_run"]):
        return f"the overfitted or the early-stopped network is not analysed under {e.preset}"
    long, base = _per_layer(e, o["run"]), _per_layer(e, o["baseline_run"])
    names = e.results.layers(o["run"]).layer.tolist()
    fc = names[-1]
    items = []
    for layer in names:
        if (layer.startswith("conv") or layer == fc) and layer in base:
            sign = 1.0 if layer == fc else -1.0
            gap = sign * (mean_sd(long[layer]).mean - mean_sd(base[layer]).mean)
            few = [f"one seed of the {name} network" for name, v in (("overfitted", long[layer]),
                                                                         ("early-stopped", base[layer])) if len(v) < 2]
            items.append({**item(layer, gap, se_of_difference(long[layer], base[layer]), "; ".join(few)),
                          "seeds": [len(long[layer]), len(base[layer])]})
    conv = [i for i in items if i["item"] != fc]
    last = items[-1] if items and items[-1]["item"] == fc else None
    z, note = None, ""
    if last is None or not conv:
        note = "no fc1 or conv layer in both networks"
    elif None in [i["z"] for i in conv] or last["z"] is None:
        note = next(i["note"] for i in items if i["z"] is None)
    else:
        z = weakest([float(np.median([i["z"] for i in conv])), last["z"]])
        note = "z: the weaker of the median conv layer's z and fc1's"
    layers = layer_differences(*(e.results.layers(t)[["layer", "alpha"]].to_dict("records")
                                 for t in (o["run"], o["baseline_run"])))
    lower = sum(i["effect"] > 0 for i in conv)
    return {"items": items, "z": z, "effect": None, "noise": None, "note": note,
            "networks": [o["run"], o["baseline_run"]], "epochs": o["epochs"], "lower": lower,
            "conv_layers": len(conv), "fc1": [mean_sd(long[fc]).mean, mean_sd(base[fc]).mean] if last else None,
            "seeds": last["seeds"] if last else None, "layers": layers,
            "accuracy": [o["test_accuracy"], o["baseline_test_accuracy"]]}


CLAIMS = (
    Claim("overfit_conv_lower_fc1_higher",
          "We can see that the alpha smoothness for the overfitted model is mostly smaller for all the "
          "convolutional layers, but bigger for the last fully connected one.",
          "In the overfitted ResNet12 alpha is lower in most conv layers and higher in the last layer.",
          overfit_pattern, lambda c: c["lower"] / c["conv_layers"],
          "alpha (per layer, the overfitted network's seed mean minus the early-stopped one's, conv layers sign "
          "reversed); noise: the standard error of that difference; z the weaker of the median conv layer and fc1"),
)
