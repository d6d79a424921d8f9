"""Each reproduced layer against the original's per-layer alphas (chart-read intervals), under every
estimator preset: the gaps, in absolute terms and in seed standard deviations."""

from __future__ import annotations

from replication import claims
from replication import config as cfg


def layer_fidelity(params: cfg.Params, results: dict, orig: dict, seeds: list[dict], close: float = 0.005,
                   k: float = claims.NOISE_SDS) -> list[dict]:
    """Each reproduced layer against the original's interval: the gap (0 inside it), and the gap in
    seed sds where the network has seed runs. Uses the seed mean where seeds exist, else the single run."""
    by_first = {g["runs"][0]: g for g in seeds if g["n_alpha"] >= 2}
    out = []
    for target, layers in orig["per_layer"]["alpha"].items():
        if target not in results["alphas"]:
            continue
        tc = params.target_config(target)
        g = by_first.get(tc.run) if tc.weights == "final" else None
        spread = {layer: (m, s) for layer, m, s in g["alpha"]} if g else {}
        rows = []
        for row in results["alphas"][target]["layers"]:
            if row["layer"] not in layers:
                continue
            low, high = layers[row["layer"]]
            value = spread[row["layer"]][0] if row["layer"] in spread else row["alpha"]
            gap = 0.0 if low <= value <= high else (value - high if value > high else value - low)
            sd = spread.get(row["layer"], (None, None))[1]
            rows.append({"layer": row["layer"], "original": [low, high], "single": row["alpha"], "value": value,
                         "sd": sd, "gap": gap, "sds": claims.in_sds(gap, sd) if sd is not None else None})
        out.append({"target": target, "preset": results["alphas"][target].get("preset"),
                    "seeds": len(g["runs"]) if g else 1,
                    "rows": rows, "close": sum(abs(r["gap"]) <= close for r in rows),
                    "within_noise": sum(r["sds"] is not None and r["sds"] <= k for r in rows),
                    "with_sd": sum(r["sd"] is not None for r in rows), "tolerance": close})
    return out


def fidelity_by_preset(params: cfg.Params, results: dict, orig: dict, k: float = claims.NOISE_SDS) -> list[dict]:
    """layer_fidelity under the main preset, each network carrying the same comparison under the other presets
    that reached it (`presets`: preset -> rows, close, within_noise). A preset without seed runs of a network
    (the costly one) is measured in the main preset's seed sd of that layer."""
    main_preset, *others = params.smoothness.presets
    main = layer_fidelity(params, results, orig, claims.seed_table(params, results), k=k)
    for preset in others:
        res = claims.under_preset(results, preset)
        theirs = {f["target"]: f for f in layer_fidelity(params, res, orig, claims.seed_table(params, res), k=k)}
        for f in main:
            other = theirs.get(f["target"])
            if other is None:
                continue
            main_sd = {r["layer"]: r["sd"] for r in f["rows"]}
            for r in other["rows"]:
                if r["sd"] is None and main_sd.get(r["layer"]) is not None:
                    r["sds"], r["sd_from"] = claims.in_sds(r["gap"], main_sd[r["layer"]]), main_preset
            other["within_noise"] = sum(r["sds"] is not None and r["sds"] <= k for r in other["rows"])
            other["with_sd"] = sum(r["sds"] is not None for r in other["rows"])
            f.setdefault("presets", {})[preset] = other
    return main
