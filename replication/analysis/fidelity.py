"""This run against the original and against its own seed noise: each reproduced layer against the
original's per-layer alphas (chart-read intervals) under every estimator preset, and the differences
between networks, from the original and between layers, all in seed standard deviations."""

from __future__ import annotations

import numpy as np

from replication.analysis import settings as cfg
from replication.analysis.results import Results
from replication.analysis.seed_groups import SeedGroup, Stat, by_first_run, in_sds, mean_sd, seed_table, single_runs
from replication.analysis.zscore import NOISE_SDS, z_of


def interval_gap(value: float, low: float, high: float) -> float:
    """How far `value` lies outside the original's chart-read interval [low, high] (0 inside it; signed)."""
    return 0.0 if low <= value <= high else value - high if value > high else value - low


def layer_fidelity(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup], close: float = 0.005,
                   k: float = NOISE_SDS) -> list[dict]:
    """Each reproduced layer against the original's interval: the gap (0 inside it), and the gap in
    seed sds where the network has seed runs. Uses the seed mean where seeds exist, else the single run."""
    by_first = by_first_run(seeds)
    out = []
    for target, layers in orig["per_layer"]["alpha"].items():
        if not results.has(target):
            continue
        tc = params.target_config(target)
        g = by_first.get(tc.run) if tc.weights == "final" else None
        spread = g.layer_stats() if g else {}
        rows = []
        rows_of_target = results.layers(target)
        for layer, alpha in zip(rows_of_target.layer, rows_of_target.alpha, strict=True):
            if layer not in layers:
                continue
            low, high = layers[layer]
            value = spread[layer].mean if layer in spread else alpha
            gap = interval_gap(value, low, high)
            sd = spread[layer].sd if layer in spread else None
            rows.append({"layer": layer, "original": [low, high], "single": alpha, "value": value,
                         "sd": sd, "gap": gap, "sds": in_sds(gap, sd) if sd is not None else None})
        out.append({"target": target, "network": params.run_config(tc.run).network,
                    "preset": results.main,
                    "seeds": len(g.runs) if g else 1,
                    "rows": rows, "close": sum(abs(r["gap"]) <= close for r in rows),
                    "within_noise": sum(r["sds"] is not None and r["sds"] <= k for r in rows),
                    "with_sd": sum(r["sd"] is not None for r in rows), "tolerance": close})
    return out


def fidelity_by_preset(params: cfg.Params, results: Results, orig: dict, k: float = NOISE_SDS) -> list[dict]:
    """layer_fidelity under the main preset, each network carrying the same comparison under the other presets
    that reached it and measure the original's quantity, the slope of the same error (`presets`: preset -> rows,
    close, within_noise). Every gap is in the preset's own seed sd of that network's layer: a layer analysed on
    one seed only under a preset has no sd there (nothing is borrowed from another preset or network)."""
    _, *others = params.smoothness.ordered
    main = layer_fidelity(params, results, orig, seed_table(params, results), k=k)
    quantity = params.smoothness.estimator(orig["per_layer"]["estimator"]).error
    for preset in others:
        if params.smoothness.estimator(preset).error != quantity:
            continue  # e.g. corrected: the slope of the L2 error, about half the original's
        res = results.of(preset)
        theirs = {f["target"]: f for f in layer_fidelity(params, res, orig, seed_table(params, res), k=k)}
        for f in main:
            if f["target"] in theirs:
                f.setdefault("presets", {})[preset] = theirs[f["target"]]
    return main


def original_reached(params: cfg.Params, fidelity: list[dict]) -> list[dict]:
    """The networks of fidelity_by_preset that the original code's own estimator (smoothness.original) reached."""
    return [f for f in fidelity if params.smoothness.original in f.get("presets", {})]


def noise(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup],
          k: float = NOISE_SDS) -> dict | None:
    """Differences of this run in its own noise: between networks (the standard error of the difference of two
    seed means), against the original and between layers (the network's own seed sd). The threshold is k times
    it; the ratios are kept so a reader can apply a stricter one. None when no group has two seeds. The claims'
    own evidence (results/claims.json) is not repeated here."""
    groups = [g for g in seeds if len(g.runs) >= 2]
    if not groups:
        return None
    by_run = by_first_run(groups)
    return {"k": k, "pairs": _pairs(groups), **_against_original(params, results, orig, groups, k),
            "falls": _layer_falls(params, results, by_run, k),
            "min_runs": min(len(g.runs) for g in groups)}


def _se(a: Stat, n_a: int, b: Stat, n_b: int) -> float:
    """Standard error of the difference of two seed means from their sds and seed counts."""
    return float(np.hypot(a.sd / np.sqrt(n_a), b.sd / np.sqrt(n_b)))


def _pairs(groups: list[SeedGroup]) -> list[dict]:
    """Every two seed groups: accuracy, restored epoch and (with two analysed seeds each) fc1 apart, each gap of
    two seed means in the standard error of that difference."""
    pairs = []
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            gap = a.accuracy.mean - b.accuracy.mean
            na, nb = len(a.runs), len(b.runs)
            pair = {"a": a, "b": b, "accuracy_gap": gap,
                    "accuracy_sds": in_sds(gap, _se(a.accuracy, na, b.accuracy, nb)),
                    "epoch_sds": in_sds(a.epoch.mean - b.epoch.mean, _se(a.epoch, na, b.epoch, nb)),
                    "fc1": None}
            if a.n_alpha >= 2 and b.n_alpha >= 2:
                fa, fb = a.alpha[-1], b.alpha[-1]
                pair["fc1"] = {"a": Stat(fa.mean, fa.sd), "b": Stat(fb.mean, fb.sd),
                               "sds": in_sds(fa.mean - fb.mean, _se(fa, a.n_alpha, fb, b.n_alpha))}
            pairs.append(pair)
    return pairs


def _against_original(params: cfg.Params, results: Results, orig: dict, groups: list[SeedGroup], k: float) -> dict:
    """Accuracy against the original's: seed means and epoch-5 snapshots, each in its own network's seed sd."""
    means = [{"group": g.group, "gap": g.accuracy.mean - orig["runs"][g.runs[0]]["test_accuracy"],
              "sds": in_sds(g.accuracy.mean - orig["runs"][g.runs[0]]["test_accuracy"], g.accuracy.sd)}
             for g in groups if g.runs[0] in orig["runs"]]
    snapshots = []
    for g in groups:
        if g.runs[0] in orig["snapshots"]:
            original = orig["snapshots"][g.runs[0]]["test_accuracy"]
            snapshots.append({"group": g.group, "mean": g.snapshot.mean, "original": original,
                              "gap": g.snapshot.mean - original, "sds": in_sds(g.snapshot.mean - original,
                                                                               g.snapshot.sd)})
    return {"means": means, "snapshots": snapshots}


def _layer_falls(params: cfg.Params, results: Results, by_run: dict[str, SeedGroup], k: float) -> list[dict]:
    """Per analysed final network with seeds: which of the suggest stage's layer falls exceed k seed sds."""
    falls = []
    for target in results.suggestions:
        g = by_run.get(params.target_config(target).run)
        drops = results.drops(target)
        if g is None or params.target_config(target).weights != "final" or not drops:
            continue
        sd = {s.layer: s.sd for s in g.alpha}
        big = [d["layer"] for d in drops if d["drop"] > k * max(sd[d["layer"]], sd[d["previous"]])]
        falls.append({"target": target, "big": big, "of": len(drops)})
    return falls


def _spread(values: list[float]) -> tuple[float, float | None]:
    """Mean and sd of a network's own seed values (sd None with one value: no noise of its own)."""
    return tuple(mean_sd(values)) if len(values) >= 2 else (values[0], None)


def summary_rows(params: cfg.Params, results: Results, orig: dict, k: float = NOISE_SDS) -> list[dict]:
    """Page 1: per network shown on its own, the original's test accuracy and fc1 alpha beside this run's, as mean
    and sd over its own training seeds. fc1 is the original's own estimator's (smoothness.original, every target),
    over the seeds it has analysed. Each comparison is a z (the gap to the original, 0 inside its chart-read
    interval, in the network's own sd; none with one seed). A network is within noise of the original when every
    z it has is under k, differs when one is not; `judged` names what the verdict rests on."""
    seeds = params.seed_groups
    runs = results.runs.test_accuracy
    fc1 = results.last_layer.alpha
    rows = []
    for run in single_runs(params):
        group = seeds.get(run, (run,))
        acc, acc_sd = _spread([runs[r] for r in group])
        o = orig["runs"].get(run)
        acc_z = z_of(acc - o["test_accuracy"], acc_sd) if o and acc_sd is not None else None
        alpha = [fc1[r] for r in group if r in fc1.index]
        a, a_sd = _spread(alpha) if alpha else (None, None)
        interval = orig["per_layer"]["alpha"].get(run, {}).get("fc1")
        gap = None if interval is None or a is None else interval_gap(a, *interval)
        a_z = z_of(gap, a_sd) if gap is not None and a_sd is not None else None
        zs = [z for z in (acc_z, a_z) if z is not None]
        rows.append({"run": run, "seeds": len(group), "fc1_seeds": len(alpha), "accuracy": acc,
                     "accuracy_sd": acc_sd, "original_accuracy": o["test_accuracy"] if o else None,
                     "accuracy_z": acc_z, "fc1": a, "fc1_sd": a_sd, "original_fc1": interval, "fc1_z": a_z,
                     "judged": "accuracy and fc1" if len(zs) == 2 else "accuracy" if acc_z is not None else
                     "fc1" if a_z is not None else "",
                     "verdict": None if not zs else "within noise" if all(abs(z) < k for z in zs) else "differs"})
    return rows
