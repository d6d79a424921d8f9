"""The original's layer-level observations, each a reason it changed an architecture (originals.json
layer_falls): per network, the mean alpha of the layers it saw fall (and deleted) is under the alpha of the layer
kept before them."""

from __future__ import annotations

import numpy as np

from replication.analysis.claims.base import Claim, Evidence, Finding, item, on_every_item
from replication.analysis.results import short_layer
from replication.analysis.seed_groups import seed_targets
from replication.analysis.zscore import network_effect


def fall(values: dict[str, float], spec: dict) -> float | None:
    """alpha of spec's `above` layer minus the mean alpha of its `below` layers (None when one is missing)."""
    if any(name not in values for name in (spec["above"], *spec["below"])):
        return None
    return values[spec["above"]] - float(np.mean([values[name] for name in spec["below"]]))


def _row(e: Evidence, target: str, spec: dict) -> dict | None:
    """One network: its seed-mean fall in the sd over its own seeds (None when a layer is missing)."""
    def quantity(names: list[str], alphas: list[float]) -> float | None:
        return fall(dict(zip(map(short_layer, names), alphas, strict=True)), spec)

    effect = network_effect(e.params, e.results, target, quantity)
    if effect is None:
        return None
    seeds = [dict(zip(rows.layer.map(short_layer), rows.alpha, strict=True))
             for t in seed_targets(e.params, target) if e.results.has(t) for rows in [e.results.layers(t)]]
    values = {name: float(np.mean([s[name] for s in seeds])) for name in seeds[0] if all(name in s for s in seeds)}
    interval = e.orig["per_layer"]["alpha"].get(target, {})
    original = {short_layer(layer): (low + high) / 2 for layer, (low, high) in interval.items()}
    return {**item(target, effect["effect"], effect["sd"], "one training seed analysed"),
            "above": spec["above"], "below": list(spec["below"]), "above_alpha": values[spec["above"]],
            "below_alpha": [values[name] for name in spec["below"]],
            "under": sum(values[name] < values[spec["above"]] for name in spec["below"]),
            "runs": effect["runs"], "original_fall": fall(original, spec)}


def layer_fall(claim_id: str):
    """The measure of one layer_falls claim: per network its fall; the claim's z is the weakest network's."""
    def measure(e: Evidence) -> Finding | str:
        by_target = e.orig["layer_falls"]["claims"].get(claim_id, {})
        landed = e.results.landed(list(by_target))
        if landed is None:
            return f"networks still to be computed under {e.preset}"
        rows = [r for t in landed if (r := _row(e, t, by_target[t])) is not None]
        if not rows:
            return f"none of {', '.join(by_target)} has every layer analysed under {e.preset}"
        return {"items": rows, **on_every_item(rows), "rows": rows}
    return measure


def _claim(claim_id: str, quote: str, text: str) -> Claim:
    return Claim(claim_id, quote, text, layer_fall(claim_id), lambda c: min(r["effect"] for r in c["rows"]),
                 "alpha (the layer kept minus the mean of the layers below it, seed mean); noise: its sd over the "
                 "network's own training seeds", template="layer_falls")


CLAIMS = (
    _claim("deleted_layers_fall",
           "Relying on smoothness analysis I changes some architectures – increased the number of channels or "
           "deleted some layers whose smoothness decreased.",
           "The layers deleted to make ResNet10 (conv6, conv7) and Plain6 (conv5 to conv10) were less smooth than "
           "the layer before them."),
    _claim("tanh_falls_at_conv9_11",
           "According to this analysis I deleted layers 9, 10, 11 from both networks and got much smaller networks "
           "that perform similarly on the test data.",
           "In the tanh networks alpha falls at conv9 to conv11 (the layers deleted)."),
    _claim("avgpool_below_last_conv",
           "The smoothness of the average pooling layer is smaller for these networks, so I tried to delete this "
           "layer.",
           "In ResNet10 and Plain6 the average pooling layer is less smooth than the last conv layer."),
)
