"""The original study's claims held against this run: numbers and verdicts, no prose.

Pure functions of params, gathered results and the original numbers (no files, no figures), tested
on hand-made results. Each claim is declared once, in CLAIMS near the end: its id, the original's
words, the function that measures it, the number the metrics keep, whether it rests on alphas, and
its noise unit; the report writes its evidence with the macro of report_templates/claims.html named by
the claim. Which networks each claim uses comes from params: `claims.converge`, `claims.pruned`,
`runs` (seed groups: Params.seed_groups), `overfit`, `mislabel` and `smoothness.targets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from replication.analysis import settings as cfg
from replication.analysis.seed_groups import SeedGroup, analysed_targets, by_first_run, mean_sd, seed_table
from replication.analysis.zscore import (  # noqa: F401 (the verdicts' names are re-exported: claims.HOLDS and so on)
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOISE_SDS,
    WITHIN_NOISE,
    network_effect,
    rank_noise,
    spearman,
    weakest,
    z_of,
    z_verdict,
)

if TYPE_CHECKING:  # annotations only (see seed_groups)
    from replication.analysis.results import Results

def descending(values: dict[str, float]) -> list[str]:
    return sorted(values, key=values.get, reverse=True)


def _group_of(run: str, seeds: list[SeedGroup]) -> SeedGroup | None:
    return next((g for g in seeds if g.runs[0] == run), None)


# --------------------------------------------------------------------------- the claims


def converges_faster(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup]) -> dict | None:
    """The first run of claims.converge is restored at an earlier epoch than the second."""
    first, second = params.claims.converge
    if first not in results.runs.index or second not in results.runs.index:
        return None
    a, b = (int(results.runs.restored_epoch[r]) for r in (first, second))
    ga, gb = _group_of(first, seeds), _group_of(second, seeds)
    z = None
    if ga and gb and len(ga.runs) >= 2 and len(gb.runs) >= 2:  # the seed means, in the larger seed sd
        z = z_of(gb.epoch.mean - ga.epoch.mean, max(ga.epoch.sd, gb.epoch.sd))
    return {"id": "resnet_converges_faster", "verdict": z_verdict(z), "z": z, "networks": [first, second],
            "k": NOISE_SDS,
            "epochs": [a, b],
            "original_epochs": [orig["runs"].get(r, {}).get("restored_epoch") for r in (first, second)],
            "seed_epochs": [ga.epoch, gb.epoch] if ga and gb else None}


def fc1_tracks_accuracy(params: cfg.Params, results: Results) -> dict | None:
    """Rank correlation of the last layer's alpha with test accuracy, final networks and their snapshots; its
    noise (rank_noise) is the sd of the correlation when every network with seeds is replaced by one of its
    seeds, drawn at random (claims.bootstrap), or the no-correlation sd of so few networks if larger. Under the
    original's estimator the fc1 alphas are every target's (Results.fc1): every network and seed."""
    analysed = analysed_targets(params)
    runs = {params.target_config(t).run for t in analysed}
    snapshots = [t for t, tc in params.smoothness.targets.items() if tc.weights == "snapshot" and tc.run in runs]
    last = results.fc1()  # under the original's estimator: every target's
    ranked = results.landed(analysed + snapshots, have=last)
    if ranked is None or len(ranked) < 3:
        return None

    def accuracy(target: str) -> float:
        tc = params.target_config(target)
        return results.runs.loc[tc.run, "snapshot_accuracy" if tc.weights == "snapshot" else "test_accuracy"]

    fc1 = {t: last[t] for t in ranked}
    acc = {t: accuracy(t) for t in ranked}
    rho = spearman(fc1, acc)
    groups = params.seed_groups  # each group's runs with an fc1 alpha (a seed run's target is named as the run)
    seeded = {t: runs for t in ranked if (tc := params.target_config(t)).weights == "final" and tc.run in groups
              and len(runs := [r for r in groups[tc.run] if r in last]) > 1}
    sd = None
    if seeded:
        rng = np.random.default_rng(params.claims.bootstrap.seed)
        boot = []
        for _ in range(params.claims.bootstrap.samples):
            draw = {t: runs[rng.integers(len(runs))] for t, runs in seeded.items()}
            boot.append(spearman({t: last[draw.get(t, t)] for t in ranked},
                                 {t: results.runs.test_accuracy[draw[t]] if t in draw else acc[t] for t in ranked}))
        sd = float(np.std(boot, ddof=1))
    sd = rank_noise(len(ranked), sd)
    z = z_of(rho, sd) if len(ranked) >= 4 else None
    return {"id": "fc1_alpha_tracks_accuracy", "verdict": z_verdict(z), "z": z, "sd": sd, "seeded": list(seeded),
            "networks": ranked, "rho": rho,
            "by_alpha": descending(fc1), "by_accuracy": descending(acc),
            "snapshot_epoch": params.train.snapshot_epoch}


def _jump(names: list[str], values: list[float], factor: float = 1.5) -> float:
    """How far the last layer's alpha is above `factor` times the largest earlier one."""
    return values[-1] - factor * max(values[:-1])


def rises_at_fc1(params: cfg.Params, results: Results, seeds: list[SeedGroup],
                 noise_seeds: list[SeedGroup] | None = None) -> dict | None:
    """The last layer's alpha is more than 1.5 times any earlier layer's (the abrupt rise), in every analysed
    network: z is the weakest network's margin (fc1 - 1.5 x the largest earlier alpha) in seed sds."""
    analysed = results.landed(analysed_targets(params))
    if not analysed:
        return None
    own = by_first_run(seeds)
    noise_groups = own or by_first_run(noise_seeds or [])
    rows = [r for t in analysed if (r := network_effect(params, results, t, _jump, own, noise_groups))]
    jumps = [r["effect"] > 0 for r in rows]
    z = weakest([r["z"] for r in rows])
    return {"id": "alpha_rises_abruptly_at_fc1", "verdict": z_verdict(z), "z": z, "networks": analysed,
            "rows": rows, "count": sum(jumps), "of": len(jumps), "factor": 1.5}


def mislabel_lowers(params: cfg.Params, results: Results) -> dict | None:
    """The last layer's alpha falls at every step of the shuffled fraction (under the first of mislabel.presets
    that results hold). Each step's fall is measured in its noise: the larger of the shuffle-and-forest sd and,
    where other training seeds were studied, the sd of the training seeds' means, at the step's two rates;
    z is the weakest step's."""
    preset = next((p for p in params.mislabel.presets if p in set(results.mislabel.preset)), None)
    by_run = results.mislabel_runs(preset) if preset else {}
    if params.mislabel.run not in by_run:
        return None
    means = [r["alpha_mean"] for r in by_run[params.mislabel.run]]
    sds = [r["alpha_std"] for r in by_run[params.mislabel.run]]
    run_means = {run: [r["alpha_mean"] for r in rows] for run, rows in by_run.items()}
    train_sd = [mean_sd([m[i] for m in run_means.values()]).sd for i in range(len(means))]

    def falls(values: list[float]) -> bool:
        return all(a > b for a, b in zip(values, values[1:], strict=False))

    monotone = falls(means)
    gap = means[0] - means[-1]
    steps = [z_of(means[i] - means[i + 1], max(sds[i], sds[i + 1], train_sd[i], train_sd[i + 1]))
             for i in range(len(means) - 1)]
    z = weakest(steps)
    return {"id": "mislabel_lowers_alpha", "verdict": z_verdict(z), "z": z, "step_z": steps, "k": NOISE_SDS,
            "networks": list(run_means), "preset": preset, "rates": list(params.mislabel.rates),
            "means": means, "monotone": monotone, "gap": gap, "max_sd": max(sds),
            "run_means": run_means, "train_sd": train_sd, "max_train_sd": max(train_sd),
            "runs_monotone": sum(falls(m) for m in run_means.values())}


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


def overfit_pattern(results: Results, seeds: list[SeedGroup], noise_seeds: list[SeedGroup] | None = None
                    ) -> dict | None:
    """Most conv layers of the overfitted network have a lower alpha, and its last layer a higher one.
    The overfit stage compared the main preset's alphas; the comparison is redone under the results' main
    preset (None when it lacks one of the two networks). Each layer's change is measured in the seed sd of
    that layer of the early-stopped network (its own seeds, else the noise seeds'), against the seed mean
    where it has seeds: z is the weaker of the median conv layer's fall and fc1's rise."""
    o = results.overfit
    if not results.has(o["run"]) or not results.has(o["baseline_run"]):
        return None
    rows = {t: results.layers(t)[["layer", "alpha"]].to_dict("records") for t in (o["run"], o["baseline_run"])}
    layers = layer_differences(rows[o["run"]], rows[o["baseline_run"]])
    o = {**o, "layers": layers, **conv_lower(layers)}
    fc = o["layers"][-1]
    own = by_first_run(seeds).get(o["baseline_run"])
    group = own or by_first_run(noise_seeds or []).get(o["baseline_run"])
    per_layer, z = [], None
    if group is not None:
        stats, means = group.layer_stats(), own.layer_stats() if own else {}
        for row in layers:
            if row["layer"] in stats and row["difference"] is not None:
                base = means[row["layer"]].mean if row["layer"] in means else row["baseline"]
                sign = 1.0 if row is fc else -1.0  # conv layers are claimed lower, fc1 higher
                if row is fc or row["layer"].startswith("conv"):
                    per_layer.append({"layer": row["layer"], "change": row["overfit"] - base,
                                      "z": z_of(sign * (row["overfit"] - base), stats[row["layer"]].sd)})
        conv = [r["z"] for r in per_layer if r["layer"] != fc["layer"]]
        if conv and None not in conv and per_layer[-1]["layer"] == fc["layer"]:
            z = weakest([float(np.median(conv)), per_layer[-1]["z"]])
    return {"id": "overfit_conv_lower_fc1_higher", "verdict": z_verdict(z), "z": z, "per_layer": per_layer,
            "sd_from": group.group if group else None, "seed_mean": own is not None,
            "networks": [o["run"], o["baseline_run"]], "epochs": o["epochs"], "lower": o["conv_layers_lower"],
            "conv_layers": o["conv_layers"], "fc1": [fc["overfit"], fc["baseline"]],
            "accuracy": [o["test_accuracy"], o["baseline_test_accuracy"]]}


def pruned_as_good(params: cfg.Params, results: Results, seeds: list[SeedGroup], tolerance: float = 0.01
                   ) -> dict | None:
    """Each network in claims.pruned is within `tolerance` of the network it was derived from, or better: z is
    the weakest pair's accuracy difference plus the tolerance, in the largest seed sd of test accuracy."""
    spread = max((g.accuracy.sd for g in seeds if len(g.runs) >= 2), default=None)
    pairs = []
    for target, s in results.suggestions.items():
        for mod in s["modified"]:
            if mod["run"] in params.claims.pruned:
                diff = mod["test_accuracy"] - s["test_accuracy"]
                pairs.append({"run": mod["run"], "from": target, "accuracy": mod["test_accuracy"],
                              "from_accuracy": s["test_accuracy"], "params": mod["params"],
                              "from_params": s["params"], "ok": diff > -tolerance,
                              "z": z_of(diff + tolerance, spread)})
    if not pairs:
        return None
    z = weakest([p["z"] for p in pairs])
    return {"id": "smaller_networks_do_as_well", "verdict": z_verdict(z), "z": z, "sd": spread,
            "networks": [p["run"] for p in pairs], "pairs": pairs, "count": sum(p["ok"] for p in pairs),
            "tolerance_points": 100 * tolerance}


def _depth_rho(table: np.ndarray) -> float:
    """Spearman correlation of the column means of a runs x layers table with the column index."""
    means = table.mean(axis=0)
    return spearman({str(i): float(v) for i, v in enumerate(means)}, {str(i): float(i) for i in range(len(means))})


def depth_trend(params: cfg.Params, seeds: list[SeedGroup]) -> dict | None:
    """Spearman correlation of the seed-mean alpha with depth over the hidden layers (conv layers and
    avpool), with a bootstrap over seeds. The claim is that alpha does not rise with depth: z is minus the
    correlation in its noise (rank_noise over the hidden layers; the weakest group's), so a clear rise does not
    hold, a clear fall holds and a flat or noisy profile is within noise."""
    groups = [g for g in seeds if g.n_alpha >= 2]
    if not groups:
        return None
    rng = np.random.default_rng(params.claims.bootstrap.seed)
    out = []
    for g in groups:
        table = g.per_run.to_numpy()[:, 1:-1]  # runs x hidden layers
        runs = len(table)
        boot = [_depth_rho(table[rng.integers(0, runs, runs)]) for _ in range(params.claims.bootstrap.samples)]
        low, high = np.quantile(boot, [0.025, 0.975])
        rho, sd = _depth_rho(table), rank_noise(table.shape[1], float(np.std(boot, ddof=1)))
        out.append({"group": g.group, "rho": rho, "low": float(low), "high": float(high), "sd": sd, "z": z_of(-rho, sd),
                    "runs": runs, "first": float(table[:, 0].mean()), "last": float(table[:, -1].mean())})
    steady = [x for x in out if x["low"] > 0]
    z = weakest([x["z"] for x in out])
    return {"id": "alpha_no_steady_rise", "verdict": z_verdict(z), "z": z, "networks": [x["group"] for x in out],
            "groups": out, "steady": [x["group"] for x in steady], "samples": params.claims.bootstrap.samples}


def short_layer(layer: str) -> str:
    """A probe point's layer name without its suffix (conv3+identity_relu -> conv3), shared by a ResNet and
    the plain network of the same depth."""
    return layer.split("+")[0].split("_")[0]


def _fall(values: dict[str, float], spec: dict) -> float | None:
    """alpha of spec's `above` layer minus the mean alpha of its `below` layers (None when one is missing)."""
    if any(name not in values for name in (spec["above"], *spec["below"])):
        return None
    return values[spec["above"]] - float(np.mean([values[name] for name in spec["below"]]))


def _fall_row(params: cfg.Params, results: Results, orig: dict, target: str, spec: dict, own: dict,
              noise_groups: dict) -> dict | None:
    """One network of a layer_falls claim: its fall, the seed sd it is measured in, z and its verdict (None when
    a layer is missing)."""
    def fall(names: list[str], alphas: list[float]) -> float | None:
        return _fall(dict(zip(map(short_layer, names), alphas, strict=True)), spec)

    e = network_effect(params, results, target, fall, own, noise_groups)
    if e is None:
        return None
    if e["borrowed"]:
        rows = results.layers(target)
        values = dict(zip(rows.layer.map(short_layer), rows.alpha, strict=True))
    else:
        values = {short_layer(s.layer): s.mean for s in own[params.target_config(target).run].alpha}
    interval = orig["per_layer"]["alpha"].get(target, {})
    original = {short_layer(layer): (low + high) / 2 for layer, (low, high) in interval.items()}
    return {"target": target, "above": spec["above"], "below": list(spec["below"]),
            "above_alpha": values[spec["above"]], "below_alpha": [values[name] for name in spec["below"]],
            "under": sum(values[name] < values[spec["above"]] for name in spec["below"]),
            "fall": e["effect"], "sd": e["sd"], "z": e["z"], "sd_from": e["sd_from"], "borrowed": e["borrowed"],
            "runs": e["runs"], "original_fall": _fall(original, spec), "verdict": z_verdict(e["z"])}


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
    whose alphas must be on the same scale. z is the weakest network's fall in its sd (z_verdict)."""
    own = by_first_run(seeds)
    noise_groups = own or by_first_run(noise_seeds or [])
    by_target = orig["layer_falls"]["claims"].get(claim_id, {})
    landed = results.landed(list(by_target))
    if landed is None:
        return None
    rows = [row for target in landed
            if (row := _fall_row(params, results, orig, target, by_target[target], own, noise_groups)) is not None]
    if not rows:
        return None
    z = weakest([r["z"] for r in rows])
    return {"id": claim_id, "verdict": z_verdict(z), "z": z, "networks": [r["target"] for r in rows], "rows": rows,
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
    key: Callable[[dict], float]  # the one number behind the verdict (results/metrics/claims_value.PRESET.json)
    noise: str  # what its effect is judged against
    uses_alpha: bool = True  # False: accuracies and epochs only, so no estimator preset can move it
    template: str = ""  # the macro of report_templates/claims.html that writes its evidence (default: the id)


def _layer_fall_claim(claim_id: str, text: str) -> Claim:
    return Claim(claim_id, text, lambda e: layer_fall(claim_id, e.params, e.results, e.orig, e.seeds, e.noise_seeds),
                 lambda c: min(r["fall"] for r in c["rows"]),
                 "the sd over training seeds of each network's fall (borrowed where a network has one run); z of the "
                 "weakest network", template="layer_falls")


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("resnet_converges_faster", "ResNet12 trained for 30 epochs, Plain12 for 44 (restored epochs).",
          lambda e: converges_faster(e.params, e.results, e.orig, e.seeds),
          lambda c: c["epochs"][1] - c["epochs"][0],
          "the larger sd of the restored epoch over either network's training seeds; z of the seed means' gap",
          uses_alpha=False),
    Claim("fc1_alpha_tracks_accuracy", "The last layer's smoothness strongly correlates with the network's "
          "performance.", lambda e: fc1_tracks_accuracy(e.params, e.results), lambda c: c["rho"],
          "the sd of the rank correlation when each network with seeds is replaced by a random one of its seeds"),
    Claim("alpha_rises_abruptly_at_fc1", "Alpha does not rise much from layer to layer; only the last layer's "
          "rises abruptly.", lambda e: rises_at_fc1(e.params, e.results, e.seeds, e.noise_seeds),
          lambda c: min(r["effect"] for r in c["rows"]),
          "the seed sd of fc1's margin over 1.5 x the largest earlier alpha; z of the weakest network"),
    Claim("alpha_no_steady_rise", "Alpha does not increase steadily from layer to layer.",
          lambda e: depth_trend(e.params, e.seeds), lambda c: max(x["rho"] for x in c["groups"]),
          "the sd of the depth correlation over a bootstrap of training seeds; z = -rho / sd, weakest group"),
    Claim("mislabel_lowers_alpha", "The more labels are shuffled, the lower the alpha of the last layer.",
          lambda e: mislabel_lowers(e.params, e.results), lambda c: c["gap"],
          "at each step, the larger of the shuffle-and-forest sd and the training-seed sd; z of the weakest step"),
    Claim("overfit_conv_lower_fc1_higher", "In the overfitted ResNet12 alpha is mostly smaller in the conv layers "
          "and bigger in the last layer.", lambda e: overfit_pattern(e.results, e.seeds, e.noise_seeds),
          lambda c: c["lower"] / c["conv_layers"],
          "each layer's seed sd in the early-stopped network; z the weaker of the median conv layer and fc1"),
    Claim("smaller_networks_do_as_well", "Networks pruned by the smoothness analysis perform almost the same or "
          "better.", lambda e: pruned_as_good(e.params, e.results, e.seeds), lambda c: c["count"] / len(c["pairs"]),
          "the largest seed sd of test accuracy, with a margin of 1 point; z of the weakest pair", uses_alpha=False),
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


def noise_source(params: cfg.Params, preset: str) -> str:
    """The preset whose seed groups measure `preset`'s single runs where it has none of its own (as_run): the first
    of all_presets, the lead first, whose estimator fits the same error, so that its alphas are on the same scale
    (corrected's are about half the others')."""
    error = params.smoothness.estimator(preset).error
    return next(p for p in params.smoothness.ordered if params.smoothness.estimator(p).error == error)


def verdicts_by_preset(params: cfg.Params, results: Results, orig: dict) -> dict[str, list[dict]]:
    """The claims judged under every estimator preset the pipeline runs (the lead first). A claim a preset cannot
    judge yet (targets not computed, too few seeds) is left out of its list. A network with one run under a preset
    borrows its seed noise from that preset's seed groups, or from noise_source's while it has none (as_run):
    layer_falls decides."""
    views = {p: results.of(p) for p in params.smoothness.ordered}
    seeds = {p: seed_table(params, view) for p, view in views.items()}
    return {p: verdicts(params, view, orig, seeds[p], noise_seeds=seeds[noise_source(params, p)])
            for p, view in views.items()}


def verdict_matrix(params: cfg.Params, by_preset: dict[str, list[dict]]) -> list[dict]:
    """Rows of claims x presets: each cell a verdict or None (not judged under that preset), and whether the
    verdict changes between the presets that judged it."""
    rows = []
    for claim_id, claim in CLAIMS.items():
        entry = {p: next((c for c in found if c["id"] == claim_id), None) for p, found in by_preset.items()}
        cells = {p: c and c["verdict"] for p, c in entry.items()}
        zs = {p: c and c.get("z") for p, c in entry.items()}
        judged = {v for v in cells.values() if v is not None}
        if judged:  # "inconclusive" (too few networks so far) is no verdict to change from
            rows.append({"id": claim_id, "claim": claim.text, "cells": cells, "z": zs, "uses_alpha": claim.uses_alpha,
                         "noise": claim.noise,
                         "changes": len(judged - {INCONCLUSIVE}) > 1})
    return rows
