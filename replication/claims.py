"""The original study's claims held against this run: numbers and verdicts, no prose.

Pure functions of params, gathered results and the original numbers (no files, no figures), tested
on hand-made results. Each claim is declared once, in CLAIMS near the end: its id, the original's
words, the function that measures it, the number the metrics keep, whether it rests on alphas, and
its noise unit; the report writes its evidence with the macro of report_templates/claims.html named by
the claim. Which networks each claim uses comes from params: `report.converge`, `report.pruned`,
`runs` (seed groups: Params.seed_groups), `overfit`, `mislabel` and `smoothness.targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import spearmanr

from replication import config as cfg
from replication.seed_groups import SeedGroup, analysed_targets, by_first_run, in_sds, mean_sd, seed_table

if TYPE_CHECKING:  # annotations only (see seed_groups)
    from replication.results import Results

NOISE_SDS = 2.0  # a difference "exceeds the seed noise" when it is larger than this many seed sds
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
WITHIN_NOISE = "within noise"  # the effect points the claimed way but is smaller than NOISE_SDS seed sds


def noise_verdict(effect: float, sds: float | None) -> str:
    """The verdict of an effect measured in the claimed direction: none, or the other way, does not hold; more
    than NOISE_SDS sds (or any, when there is no sd to measure it in) holds; less is within noise."""
    return FAILS if effect <= 0 else HOLDS if sds is None or sds > NOISE_SDS else WITHIN_NOISE


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    """Spearman rank correlation of two scores over the same keys (scipy's: tied values share their mean rank)."""
    keys = list(a)
    return float(spearmanr([a[k] for k in keys], [b[k] for k in keys]).statistic)


def descending(values: dict[str, float]) -> list[str]:
    return sorted(values, key=values.get, reverse=True)


def _group_of(run: str, seeds: list[SeedGroup]) -> SeedGroup | None:
    return next((g for g in seeds if g.runs[0] == run), None)


# --------------------------------------------------------------------------- the claims


def converges_faster(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup]) -> dict | None:
    """The first run of report.converge is restored at an earlier epoch than the second."""
    first, second = params.report.converge
    if first not in results.runs.index or second not in results.runs.index:
        return None
    a, b = (int(results.runs.restored_epoch[r]) for r in (first, second))
    ga, gb = _group_of(first, seeds), _group_of(second, seeds)
    verdict = HOLDS if a < b else FAILS
    sds = None
    if ga and gb and len(ga.runs) >= 2 and len(gb.runs) >= 2:  # judge the seed means, not one run each
        gap = gb.epoch.mean - ga.epoch.mean
        sds = in_sds(gap, max(ga.epoch.sd, gb.epoch.sd))
        verdict = noise_verdict(gap, sds)
    return {"id": "resnet_converges_faster", "verdict": verdict, "networks": [first, second], "sds": sds,
            "k": NOISE_SDS,
            "epochs": [a, b],
            "original_epochs": [orig["runs"].get(r, {}).get("restored_epoch") for r in (first, second)],
            "seed_epochs": [ga.epoch, gb.epoch] if ga and gb else None}


def fc1_tracks_accuracy(params: cfg.Params, results: Results) -> dict | None:
    """Rank correlation of the last layer's alpha with test accuracy, final networks and their snapshots."""
    analysed = analysed_targets(params)
    runs = {params.target_config(t).run for t in analysed}
    snapshots = [t for t, tc in params.smoothness.targets.items() if tc.weights == "snapshot" and tc.run in runs]
    last = results.fc1()
    ranked = [t for t in analysed + snapshots if t in last]
    if len(ranked) < 3:
        return None

    def accuracy(target: str) -> float:
        tc = params.target_config(target)
        return results.runs.loc[tc.run, "snapshot_accuracy" if tc.weights == "snapshot" else "test_accuracy"]

    fc1 = {t: last[t] for t in ranked}
    acc = {t: accuracy(t) for t in ranked}
    rho = spearman(fc1, acc)
    verdict = INCONCLUSIVE if len(ranked) < 4 else HOLDS if rho > 0.5 else FAILS
    return {"id": "fc1_alpha_tracks_accuracy", "verdict": verdict, "networks": ranked, "rho": rho,
            "by_alpha": descending(fc1), "by_accuracy": descending(acc),
            "snapshot_epoch": params.train.snapshot_epoch}


def rises_at_fc1(params: cfg.Params, results: Results) -> dict | None:
    """The last layer has the largest alpha, more than 1.5 times any earlier layer."""
    analysed = [t for t in analysed_targets(params) if results.has(t)]
    if not analysed:
        return None
    jumps = []
    for t in analysed:
        values = results.alpha(t)
        jumps.append(values[-1] == max(values) and values[-1] > 1.5 * max(values[:-1]))
    return {"id": "alpha_rises_abruptly_at_fc1", "verdict": HOLDS if all(jumps) else FAILS, "networks": analysed,
            "count": sum(jumps), "of": len(jumps), "factor": 1.5}


def mislabel_lowers(params: cfg.Params, results: Results) -> dict | None:
    """The last layer's alpha falls monotonically as labels are shuffled, by more than the noise: the
    shuffle-and-forest sd at each rate and, where other training seeds were studied, the sd of the
    training seeds' means (under the first of mislabel.presets that results hold). A monotone fall
    smaller than NOISE_SDS times that noise is within noise."""
    preset = next((p for p in params.mislabel.presets if p in set(results.mislabel.preset)), None)
    by_run = results.mislabel_runs(preset) if preset else {}
    if params.mislabel.run not in by_run:
        return None
    means = [r["alpha_mean"] for r in by_run[params.mislabel.run]]
    sds = [r["alpha_std"] for r in by_run[params.mislabel.run]]
    run_means = {run: [r["alpha_mean"] for r in rows] for run, rows in by_run.items()}
    train_sd = [mean_sd([m[i] for m in run_means.values()])[1] for i in range(len(means))]

    def falls(values: list[float]) -> bool:
        return all(a > b for a, b in zip(values, values[1:], strict=False))

    monotone = falls(means)
    gap = means[0] - means[-1]
    noise_sd = max(max(sds), max(train_sd))
    verdict = noise_verdict(gap if monotone else 0.0, in_sds(gap, noise_sd))
    return {"id": "mislabel_lowers_alpha", "verdict": verdict, "k": NOISE_SDS,
            "networks": list(run_means), "preset": preset, "rates": list(params.mislabel.rates),
            "means": means, "monotone": monotone, "gap": gap, "max_sd": max(sds),
            "run_means": run_means, "train_sd": train_sd, "max_train_sd": max(train_sd),
            "runs_monotone": sum(falls(m) for m in run_means.values())}


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


def overfit_pattern(results: Results) -> dict | None:
    """Most conv layers of the overfitted network have a lower alpha, and its last layer a higher one.
    The overfit stage compared the main preset's alphas; the comparison is redone under the results' main
    preset (None when it lacks one of the two networks)."""
    o = results.overfit
    if not results.has(o["run"]) or not results.has(o["baseline_run"]):
        return None
    rows = {t: results.layers(t)[["layer", "alpha"]].to_dict("records") for t in (o["run"], o["baseline_run"])}
    layers = layer_differences(rows[o["run"]], rows[o["baseline_run"]])
    o = {**o, "layers": layers, **conv_lower(layers)}
    fc = o["layers"][-1]
    holds = o["conv_layers_lower"] > o["conv_layers"] / 2 and fc["difference"] > 0
    return {"id": "overfit_conv_lower_fc1_higher", "verdict": HOLDS if holds else FAILS,
            "networks": [o["run"], o["baseline_run"]], "epochs": o["epochs"], "lower": o["conv_layers_lower"],
            "conv_layers": o["conv_layers"], "fc1": [fc["overfit"], fc["baseline"]],
            "accuracy": [o["test_accuracy"], o["baseline_test_accuracy"]]}


def pruned_as_good(params: cfg.Params, results: Results, tolerance: float = 0.01) -> dict | None:
    """Each network in report.pruned is within `tolerance` of the network it was derived from, or better."""
    pairs = []
    for target, s in results.suggestions.items():
        for mod in s["modified"]:
            if mod["run"] in params.report.pruned:
                diff = mod["test_accuracy"] - s["test_accuracy"]
                pairs.append({"run": mod["run"], "from": target, "accuracy": mod["test_accuracy"],
                              "from_accuracy": s["test_accuracy"], "params": mod["params"],
                              "from_params": s["params"], "ok": diff > -tolerance})
    if not pairs:
        return None
    return {"id": "smaller_networks_do_as_well", "verdict": HOLDS if all(p["ok"] for p in pairs) else FAILS,
            "networks": [p["run"] for p in pairs], "pairs": pairs, "count": sum(p["ok"] for p in pairs),
            "tolerance_points": 100 * tolerance}


def _depth_rho(table: np.ndarray) -> float:
    """Spearman correlation of the column means of a runs x layers table with the column index."""
    means = table.mean(axis=0)
    return spearman({str(i): float(v) for i, v in enumerate(means)}, {str(i): float(i) for i in range(len(means))})


def depth_trend(params: cfg.Params, seeds: list[SeedGroup]) -> dict | None:
    """Spearman correlation of the seed-mean alpha with depth over the hidden layers (conv layers and
    avpool), with a bootstrap over seeds; a steady rise is a correlation whose 95% interval is above 0."""
    groups = [g for g in seeds if g.n_alpha >= 2]
    if not groups:
        return None
    rng = np.random.default_rng(params.report.bootstrap.seed)
    out = []
    for g in groups:
        table = g.per_run.to_numpy()[:, 1:-1]  # runs x hidden layers
        runs = len(table)
        boot = [_depth_rho(table[rng.integers(0, runs, runs)]) for _ in range(params.report.bootstrap.samples)]
        low, high = np.quantile(boot, [0.025, 0.975])
        out.append({"group": g.group, "rho": _depth_rho(table), "low": float(low), "high": float(high),
                    "runs": runs, "first": float(table[:, 0].mean()), "last": float(table[:, -1].mean())})
    steady = [x for x in out if x["low"] > 0]
    return {"id": "alpha_no_steady_rise", "verdict": FAILS if steady else HOLDS, "networks": [x["group"] for x in out],
            "groups": out, "steady": [x["group"] for x in steady], "samples": params.report.bootstrap.samples}


def short_layer(layer: str) -> str:
    """A probe point's layer name without its suffix (conv3+identity_relu -> conv3), shared by a ResNet and
    the plain network of the same depth."""
    return layer.split("+")[0].split("_")[0]


def _fall(values: dict[str, float], spec: dict) -> float | None:
    """alpha of spec's `above` layer minus the mean alpha of its `below` layers (None when one is missing)."""
    if any(name not in values for name in (spec["above"], *spec["below"])):
        return None
    return values[spec["above"]] - float(np.mean([values[name] for name in spec["below"]]))


def _seed_falls(group: SeedGroup, spec: dict) -> list[float]:
    """_fall of every seed run of a seed_table group ([] when the group lacks one of the layers)."""
    names = [short_layer(s.layer) for s in group.alpha]
    falls = [_fall(dict(zip(names, alphas, strict=True)), spec) for alphas in group.per_run.itertuples(index=False)]
    return [] if None in falls else falls


def _fall_row(params: cfg.Params, results: Results, orig: dict, target: str, spec: dict, own: dict,
              noise_groups: dict) -> dict | None:
    """One network of a layer_falls claim: its fall, the seed sd it is measured in and its verdict (None when
    a layer is missing)."""
    tc = params.target_config(target)
    final = tc.weights == "final"
    group = own.get(tc.run) if final else None
    if group is not None:
        falls = _seed_falls(group, spec)
        if not falls:
            return None
        (gap, sd), runs = mean_sd(falls), len(falls)
        values = {short_layer(s.layer): s.mean for s in group.alpha}
        sd_from, borrowed = group.group, False
    else:
        rows = results.layers(target)
        values = dict(zip(rows.layer.map(short_layer), rows.alpha, strict=True))
        gap, runs, borrowed = _fall(values, spec), 1, True
        if gap is None:
            return None
        mine = noise_groups.get(tc.run) if final else None
        spreads = [(mean_sd(f).sd, g.group) for g in ([mine] if mine else noise_groups.values())
                   if len(f := _seed_falls(g, spec)) >= 2]
        sd, sd_from = max(spreads) if spreads else (None, None)
    sds = in_sds(gap, sd) if sd is not None else None
    interval = orig["per_layer"]["alpha"].get(target, {})
    original = {short_layer(layer): (low + high) / 2 for layer, (low, high) in interval.items()}
    return {"target": target, "above": spec["above"], "below": list(spec["below"]),
            "above_alpha": values[spec["above"]], "below_alpha": [values[name] for name in spec["below"]],
            "under": sum(values[name] < values[spec["above"]] for name in spec["below"]),
            "fall": gap, "sd": sd, "sds": sds, "sd_from": sd_from, "borrowed": borrowed, "runs": runs,
            "original_fall": _fall(original, spec),
            "verdict": noise_verdict(gap, sds)}


def layer_falls(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup],
                noise_seeds: list[SeedGroup] | None = None) -> list[dict]:
    """Every claim of originals.json's layer_falls that these results can judge (see layer_fall)."""
    return [c for claim_id in orig["layer_falls"]["claims"]
            if (c := layer_fall(claim_id, params, results, orig, seeds, noise_seeds)) is not None]


def layer_fall(claim_id: str, params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup],
               noise_seeds: list[SeedGroup] | None = None) -> dict | None:
    """One of the original's layer-level observations (originals.json layer_falls): per network, the mean alpha
    of the layers it saw fall (and deleted) under the alpha of the layer kept before them. The fall is the seed
    mean where the network has seeds, judged against the sd of the per-seed falls; a network with one run
    borrows that sd from its own seed group or else the largest of the groups' sds of the same fall. The groups
    are those of `seeds`; only when there are none (a preset run once per network) those of `noise_seeds`,
    whose alphas must be on the same scale. A claim holds when every network falls by more than NOISE_SDS
    sds, is within noise when every network falls, and does not hold otherwise."""
    own = by_first_run(seeds)
    noise_groups = own or by_first_run(noise_seeds or [])
    by_target = orig["layer_falls"]["claims"].get(claim_id, {})
    rows = [row for target, spec in by_target.items() if results.has(target)
            if (row := _fall_row(params, results, orig, target, spec, own, noise_groups)) is not None]
    if not rows:
        return None
    judged = {r["verdict"] for r in rows}
    verdict = FAILS if FAILS in judged else HOLDS if judged == {HOLDS} else WITHIN_NOISE
    return {"id": claim_id, "verdict": verdict, "networks": [r["target"] for r in rows], "rows": rows,
            "k": NOISE_SDS}


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Evidence:
    """What every claim is measured from. `noise_seeds`: the seed groups a single-run network borrows its
    noise from in layer_fall when `seeds` has none."""
    params: cfg.Params
    results: Results
    orig: dict
    seeds: list[SeedGroup]
    noise_seeds: list[SeedGroup] | None = None


@dataclass(frozen=True)
class Claim:
    """One claim of the original, declared once."""
    id: str
    text: str  # the original's claim
    measure: Callable[[Evidence], dict | None]  # its numbers and verdict; None when these results cannot judge it
    key: Callable[[dict], float]  # the one number behind the verdict (results/metrics/claims.json)
    noise: str  # what its effect is judged against
    uses_alpha: bool = True  # False: accuracies and epochs only, so no estimator preset can move it
    template: str = ""  # the macro of report_templates/claims.html that writes its evidence (default: the id)


def _weakest_fall(c: dict) -> float:
    """The weakest network's fall in seed sds, signed (in alpha units when no network has an sd)."""
    return min(r["fall"] / r["sd"] if r["sd"] else r["fall"] for r in c["rows"])


def _layer_fall_claim(claim_id: str, text: str) -> Claim:
    return Claim(claim_id, text, lambda e: layer_fall(claim_id, e.params, e.results, e.orig, e.seeds, e.noise_seeds),
                 _weakest_fall, "the sd over training seeds of each network's fall", template="layer_falls")


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("resnet_converges_faster", "ResNet12 trained for 30 epochs, Plain12 for 44 (restored epochs).",
          lambda e: converges_faster(e.params, e.results, e.orig, e.seeds),
          lambda c: c["epochs"][1] - c["epochs"][0], "the sd of the restored epoch over training seeds",
          uses_alpha=False),
    Claim("fc1_alpha_tracks_accuracy", "The last layer's smoothness strongly correlates with the network's "
          "performance.", lambda e: fc1_tracks_accuracy(e.params, e.results), lambda c: c["rho"],
          "none yet: a rank correlation over the analysed networks"),
    Claim("alpha_rises_abruptly_at_fc1", "Alpha does not rise much from layer to layer; only the last layer's "
          "rises abruptly.", lambda e: rises_at_fc1(e.params, e.results), lambda c: c["count"] / c["of"],
          "none yet: a count of networks"),
    Claim("alpha_no_steady_rise", "Alpha does not increase steadily from layer to layer.",
          lambda e: depth_trend(e.params, e.seeds), lambda c: max(x["low"] for x in c["groups"]),
          "a bootstrap over training seeds"),
    Claim("mislabel_lowers_alpha", "The more labels are shuffled, the lower the alpha of the last layer.",
          lambda e: mislabel_lowers(e.params, e.results), lambda c: c["gap"],
          "the larger of the shuffle-and-forest sd and the training-seed sd"),
    Claim("overfit_conv_lower_fc1_higher", "In the overfitted ResNet12 alpha is mostly smaller in the conv layers "
          "and bigger in the last layer.", lambda e: overfit_pattern(e.results),
          lambda c: c["lower"] / c["conv_layers"], "none yet: a count of layers"),
    Claim("smaller_networks_do_as_well", "Networks pruned by the smoothness analysis perform almost the same or "
          "better.", lambda e: pruned_as_good(e.params, e.results), lambda c: c["count"] / len(c["pairs"]),
          "a fixed tolerance of 1 accuracy point", uses_alpha=False),
    _layer_fall_claim("deleted_layers_fall", "The layers deleted to make ResNet10 (conv6, conv7) and Plain6 (conv5 "
                      "to conv10) were less smooth than the layer before them."),
    _layer_fall_claim("tanh_falls_at_conv9_11", "In the tanh networks alpha falls at conv9 to conv11, so these "
                      "layers were deleted."),
    _layer_fall_claim("avgpool_below_last_conv", "In ResNet10 and Plain6 the average pooling layer is less smooth "
                      "than the last conv layer."),
)}


def verdicts(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup],
             noise_seeds: list[SeedGroup] | None = None) -> list[dict]:
    """One entry per claim of CLAIMS that this run can judge: its numbers, verdict, text and template."""
    evidence = Evidence(params, results, orig, seeds, noise_seeds)
    found = ((claim, claim.measure(evidence)) for claim in CLAIMS.values())
    return [{**c, "claim": claim.text, "template": claim.template or claim.id} for claim, c in found if c is not None]


def verdicts_by_preset(params: cfg.Params, results: Results, orig: dict) -> dict[str, list[dict]]:
    """The claims judged under every estimator preset the pipeline runs (main preset first). A claim a
    preset cannot judge yet (targets not computed, too few seeds) is left out of its list. A network with one
    run under a preset borrows its seed noise from that preset's seed groups (alphas of another preset may be
    on another scale: corrected's are about half), or from the main preset's while it has none (as_run):
    layer_falls decides."""
    out, main_seeds = {}, None
    for preset in params.smoothness.presets:
        res = results.of(preset)
        seeds = seed_table(params, res)
        main_seeds = seeds if main_seeds is None else main_seeds
        out[preset] = verdicts(params, res, orig, seeds, noise_seeds=main_seeds)
    return out


def verdict_matrix(params: cfg.Params, by_preset: dict[str, list[dict]]) -> list[dict]:
    """Rows of claims x presets: each cell a verdict or None (not judged under that preset), and whether the
    verdict changes between the presets that judged it."""
    rows = []
    for claim_id, claim in CLAIMS.items():
        cells = {p: next((c["verdict"] for c in found if c["id"] == claim_id), None) for p, found in by_preset.items()}
        judged = {v for v in cells.values() if v is not None}
        if judged:  # "inconclusive" (too few networks so far) is no verdict to change from
            rows.append({"id": claim_id, "claim": claim.text, "cells": cells, "uses_alpha": claim.uses_alpha,
                         "changes": len(judged - {INCONCLUSIVE}) > 1})
    return rows
