"""Claims as numbers and verdicts, on hand-made results with known spreads; and the sentences the
report's templates make of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tables import results as R

from replication.analysis import claims, fidelity
from replication.analysis.originals import originals
from replication.analysis.seed_groups import LayerStat, SeedGroup, in_sds, mean_sd
from replication.report import context
from replication.report import settings as cfg

LAYERS = ["input", "conv1_relu", "conv2_relu", "avpool", "fc1"]


@pytest.fixture
def params(raw) -> cfg.Params:
    """The project's params with three seeds per group (the hand-made spread below assumes three)."""
    for run in ("resnet12_seed3", "resnet12_seed4", "plain12_seed3", "plain12_seed4"):
        del raw["runs"][run], raw["smoothness"]["targets"][run]
    raw["mislabel"]["runs"] = ["resnet12", "resnet12_seed1", "resnet12_seed2"]
    params = cfg.parse(raw)
    assert params.seed_groups == {"resnet12": ("resnet12", "resnet12_seed1", "resnet12_seed2"),
                                  "plain12": ("plain12", "plain12_seed1", "plain12_seed2")}
    return params


def _results(params: cfg.Params, orig: dict, seed_sd: float = 0.01) -> dict:
    """Every single run at its original accuracy; the seeds of each group spread by exactly seed_sd."""
    runs = {}
    for name in params.runs:
        base = orig["runs"].get(name, {"test_accuracy": 0.6})["test_accuracy"]
        runs[name] = {"metrics": {"test_accuracy": base, "restored_epoch": 30, "snapshot": {"test_accuracy": 0.5}}}
    alphas = {}
    for runs_of_group in params.seed_groups.values():
        for i, r in enumerate(runs_of_group):
            offset = (i - 1) * seed_sd  # -sd, 0, +sd: sample sd = seed_sd
            runs[r]["metrics"]["test_accuracy"] = runs[runs_of_group[0]]["metrics"]["test_accuracy"] + offset
            alphas[r] = {"layers": [{"layer": name, "alpha": 0.02 + k * 0.001 + offset / 100}
                                    for k, name in enumerate(LAYERS)]}
    drops = [{"layer": "conv2_relu", "previous": "conv1_relu", "drop": 0.01},  # 100 sds of those layers
             {"layer": "avpool", "previous": "conv2_relu", "drop": 0.00005}]  # half an sd
    # the overfitted network: resnet12's alphas with conv1 lower by 0.01 (100 of its seed sds)
    alphas["resnet12_overfit"] = {"layers": [{**row, "alpha": row["alpha"] - (row["layer"] == "conv1_relu") * 0.01}
                                             for row in alphas["resnet12"]["layers"]]}
    overfit = {"run": "resnet12_overfit", "baseline_run": "resnet12", "epochs": 100, "test_accuracy": 0.6,
               "baseline_test_accuracy": 0.65}
    return {"runs": runs, "alphas": alphas, "overfit": overfit,
            "suggestions": {"resnet12": {"drops": {params.smoothness.lead: drops}}}}


def _sentences(params: cfg.Params, noise: dict) -> str:
    template = context.environment().from_string(
        '{% from "claims.html" import noise_items with context %}{{ noise_items(noise) }}')
    return " ".join(template.render(noise=noise, snapshot_epoch=params.train.snapshot_epoch).split())


def test_noise_names_what_exceeds_the_seed_spread(params):
    orig = originals()
    results = _results(params, orig)
    noise = fidelity.noise(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    assert noise["far"] == [] and noise["n_single"] == 10
    assert noise["falls"] == [{"target": "resnet12", "big": ["conv2_relu"], "of": 2}]
    assert noise["overfit"]["lower"] == 1 and noise["overfit"]["of"] == 2
    text = _sentences(params, noise)
    assert "none of the 10 single runs differ" in text
    assert "1 of 2 alpha falls exceeds 2 x the seed sd of the two layers (conv2_relu)" in text
    assert "1 of 2 conv layers are lower by more than 2 seed sds" in text

    # One run 5 points below the original (the spread is 1 point): it is named with its difference.
    results["runs"]["plain6"]["metrics"]["test_accuracy"] -= 0.05
    noise = fidelity.noise(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    assert [f["run"] for f in noise["far"]] == ["plain6"] and noise["far"][0]["gap"] == pytest.approx(-0.05)
    assert "1 of 10 single runs differs from the original by more (plain6 -5.00)" in _sentences(params, noise)


def test_noise_scales_with_the_spread(params):
    """A 1-point gap from the original is noise when seeds spread 1 point, signal when they spread 0.1."""
    orig = originals()
    for sd, far in ((0.01, []), (0.001, ["resnet10"])):
        results = _results(params, orig, seed_sd=sd)
        results["runs"]["resnet10"]["metrics"]["test_accuracy"] -= 0.01
        noise = fidelity.noise(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
        assert [f["run"] for f in noise["far"]] == far, sd


def test_no_seed_groups_no_noise(params):
    assert fidelity.noise(params, R(params, {}), originals(), []) is None


def test_in_sds_z_and_spearman():
    assert in_sds(-0.3, 0.1) == pytest.approx(3.0) and in_sds(0.3, 0.0) is None
    assert claims.z_of(-0.3, 0.1) == pytest.approx(-3.0) and claims.z_of(0.3, 0.0) is None
    # a rank correlation of n points is never measured in less than its no-correlation sd 1/sqrt(n - 1)
    assert claims.rank_noise(5, 0.0) == 0.5 and claims.rank_noise(5, 0.7) == 0.7
    assert claims.spearman({"a": 3, "b": 2, "c": 1}, {"a": 30, "b": 20, "c": 10}) == pytest.approx(1.0)
    assert claims.spearman({"a": 3, "b": 2, "c": 1}, {"a": 10, "b": 20, "c": 30}) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4) give 0.9487; without that, 0.8 or 1.0
    tied = claims.spearman({"a": 1, "b": 2, "c": 2, "d": 3}, {"a": 1, "b": 2, "c": 3, "d": 4})
    assert tied == pytest.approx(0.9486833)


def test_pruned_claim_uses_the_listed_networks_only(params):
    suggestions = {"resnet12": {"test_accuracy": 0.65, "params": 100, "modified": [
        {"run": "resnet10", "test_accuracy": 0.645, "params": 90},
        {"run": "resnet10_noavgpool", "test_accuracy": 0.50, "params": 80}]}}
    seeds = [_group(epochs=[30, 30], accuracy_sd=0.002)]  # accuracy spreads 0.2 points over seeds
    c = claims.pruned_as_good(params, R(params, {"suggestions": suggestions}), seeds)
    # 0.5 points below, 1 point allowed: 0.5 points to spare, 2.5 seed sds
    assert c["networks"] == ["resnet10"] and c["verdict"] == claims.HOLDS and c["z"] == pytest.approx(2.5)
    suggestions["resnet12"]["modified"][0]["test_accuracy"] = 0.62  # 3 points below: 2 beyond the margin, -10 sd
    assert claims.pruned_as_good(params, R(params, {"suggestions": suggestions}), seeds)["verdict"] == claims.FAILS
    suggestions["resnet12"]["modified"][0]["test_accuracy"] = 0.641  # 0.9 points below: 0.5 sd, within noise
    c = claims.pruned_as_good(params, R(params, {"suggestions": suggestions}), seeds)
    assert c["verdict"] == claims.WITHIN_NOISE
    c = claims.pruned_as_good(params, R(params, {"suggestions": suggestions}), [])
    assert c["verdict"] == claims.INCONCLUSIVE


def test_mislabel_verdict_needs_a_monotone_fall_beyond_the_spread(params):
    def rows(means, sd):
        return {"mislabel": {"as_run": [{"alpha_mean": m, "alpha_std": sd} for m in means]}}

    def verdict(means, sd):
        return claims.mislabel_lowers(params, R(params, rows(means, sd)))["verdict"]

    assert verdict([0.1, 0.05, 0.02, 0.01, 0.005], 0.001) == claims.HOLDS
    assert verdict([0.1, 0.05, 0.06, 0.01, 0.005], 0.001) == claims.FAILS
    assert verdict([0.1, 0.09, 0.08, 0.07, 0.06], 0.05) == claims.WITHIN_NOISE


def test_mislabel_verdict_knows_the_training_seed_spread(params):
    """A fall of 0.095 is far beyond a shuffle sd of 0.001, but not beyond training seeds whose means
    differ by 0.05 at one rate: within noise, and the seeds that do not fall monotonically are counted."""
    means = [0.1, 0.05, 0.02, 0.01, 0.005]
    results = {"mislabel": {"as_run": [{"alpha_mean": m, "alpha_std": 0.001} for m in means]},
               "mislabel_seeds": {"resnet12_seed1": {"as_run": [{"alpha_mean": m} for m in means]}}}
    c = claims.mislabel_lowers(params, R(params, results))
    assert c["verdict"] == claims.HOLDS and c["max_train_sd"] == 0 and c["runs_monotone"] == 2
    results["mislabel_seeds"]["resnet12_seed1"]["as_run"][0]["alpha_mean"] = 0.1 + 0.1  # sd of (0.1, 0.2): 0.0707
    c = claims.mislabel_lowers(params, R(params, results))
    assert c["max_train_sd"] == pytest.approx(0.0707, abs=1e-4) and c["verdict"] == claims.WITHIN_NOISE
    results["mislabel_seeds"]["resnet12_seed1"]["as_run"][2]["alpha_mean"] = 0.06  # not monotone for this seed
    assert claims.mislabel_lowers(params, R(params, results))["runs_monotone"] == 1


def _group(per_run: dict[str, list[float]] | None = None, epochs: list[int] | None = None,
           first: str = "r0", accuracy_sd: float = 0.0) -> SeedGroup:
    """A seed group from per-run alphas (layers l0, l1, ...) or restored epochs alone."""
    per_run = per_run or {}
    runs = tuple(per_run) or (first, *(f"{first}_s{i}" for i in range(1, len(epochs or []))))
    table = pd.DataFrame.from_dict(per_run, orient="index")
    alpha = [LayerStat(f"l{i}", *mean_sd(table[i])) for i in table.columns]
    return SeedGroup(group=runs[0], runs=runs, accuracies=[], epochs=epochs or [],
                     accuracy=mean_sd([0.6 - accuracy_sd, 0.6, 0.6 + accuracy_sd]), epoch=mean_sd(epochs or [30]),
                     snapshot=mean_sd([0.5]), per_run=table, alpha=alpha)


def test_depth_trend_tells_a_steady_rise_from_noise(params):
    rising = _group({f"r{s}": [0.015, *(0.02 + 0.001 * i + 0.0001 * s for i in range(8)), 0.1] for s in range(3)})
    trend = claims.depth_trend(params, [rising])
    assert trend["verdict"] == claims.FAILS and trend["groups"][0]["low"] > 0.9 and trend["steady"] == ["r0"]
    assert trend["groups"][0]["z"] == pytest.approx(-np.sqrt(7))  # rho 1 in its no-correlation sd, 1 / sqrt(8 - 1)
    rng = np.random.default_rng(0)
    flat = _group({f"r{s}": [0.015, *(0.02 + 0.002 * rng.standard_normal(8)), 0.1] for s in range(5)})
    assert claims.depth_trend(params, [flat])["verdict"] == claims.WITHIN_NOISE  # no rise, but no clear fall either
    falling = _group({f"r{s}": [0.015, *(0.03 - 0.001 * i + 0.0001 * s for i in range(8)), 0.1] for s in range(3)})
    assert claims.depth_trend(params, [falling])["verdict"] == claims.HOLDS


def test_layer_fidelity_measures_the_gap_to_the_original_interval(params):
    orig = {"per_layer": {"alpha": {"plain6": {"input": [0.017, 0.018], "fc1": [0.1, 0.101]}}}}
    results = {"alphas": {"plain6": {"preset": "as_run", "layers": [{"layer": "input", "alpha": 0.0175},
                                                                     {"layer": "fc1", "alpha": 0.09}]}}}
    (f,) = fidelity.layer_fidelity(params, R(params, results), orig, [])
    assert [r["gap"] for r in f["rows"]] == [0.0, pytest.approx(-0.01)]
    assert f["close"] == 1 and f["with_sd"] == 0 and f["seeds"] == 1


def test_convergence_claim_is_judged_on_seed_means(params):
    def group(first, epochs):
        return _group(epochs=epochs, first=first)

    results = {"runs": {"resnet12": {"metrics": {"restored_epoch": 30}},
                        "plain12": {"metrics": {"restored_epoch": 44}}}}
    orig = {"runs": {}}
    seeds = [group("resnet12", [30, 31, 29]), group("plain12", [44, 45, 43])]
    far = claims.converges_faster(params, R(params, results), orig, seeds)
    assert far["verdict"] == claims.HOLDS and far["z"] == pytest.approx(14.0)
    seeds = [group("resnet12", [30, 36, 33]), group("plain12", [44, 34, 40])]
    close = claims.converges_faster(params, R(params, results), orig, seeds)
    assert close["verdict"] == claims.WITHIN_NOISE and 0 < close["z"] < claims.NOISE_SDS
    seeds = [group("resnet12", [44, 45, 43]), group("plain12", [30, 31, 29])]  # the other way round
    assert claims.converges_faster(params, R(params, results), orig, seeds)["verdict"] == claims.FAILS
    alone = claims.converges_faster(params, R(params, results), orig, [])  # one run each: no noise to judge in
    assert alone["verdict"] == claims.INCONCLUSIVE and alone["z"] is None


def test_claims_are_judged_under_every_preset_and_flips_are_flagged(params):
    orig = originals()
    results = _results(params, orig)
    results["overfit"].update(run="resnet12_overfit", epochs=100, test_accuracy=0.6, baseline_test_accuracy=0.65)
    results["suggestions"]["resnet12"].update(modified=[])
    results["mislabel"] = {"as_run": [{"alpha_mean": m, "alpha_std": 0.001} for m in (0.1, 0.05, 0.02)]}
    main = results["alphas"]
    steep = {t: {"layers": [*a["layers"][:-1], {"layer": "fc1", "alpha": 0.1}]} for t, a in main.items()}
    results["alphas_by_preset"] = {"as_reported": main, "corrected": steep,
                                   "as_run": {"resnet12": steep["resnet12"]}}  # one target done so far
    by_preset = claims.verdicts_by_preset(params, R(params, results), orig)
    assert list(by_preset) == ["as_reported", "corrected", "as_run"]
    rows = {r["id"]: r for r in claims.verdict_matrix(params, by_preset)}
    rises = rows["alpha_rises_abruptly_at_fc1"]
    assert rises["cells"] == {"as_reported": claims.FAILS, "corrected": claims.HOLDS, "as_run": claims.HOLDS}
    assert rises["changes"] and rises["uses_alpha"]
    # accuracies do not depend on the estimator: one verdict in every column
    converge = rows["resnet_converges_faster"]
    assert len(set(converge["cells"].values())) == 1 and not converge["changes"] and not converge["uses_alpha"]
    # the mislabel study ran under as_run only; a seed trend needs two seeds, which as_run lacks
    assert rows["mislabel_lowers_alpha"]["cells"] == {"as_reported": None, "corrected": None, "as_run": claims.HOLDS}
    assert rows["alpha_no_steady_rise"]["cells"]["as_run"] is None
    # too few networks under a preset is inconclusive, not a changed verdict
    main.update({t: main["resnet12"] for t in ("resnet12_epoch5", "plain12_epoch5")})  # 4 networks ranked
    results["alphas_by_preset"]["corrected"] = {t: main[t] for t in ("resnet12", "plain12", "resnet12_epoch5")}
    by_preset = claims.verdicts_by_preset(params, R(params, results), orig)
    rows = {r["id"]: r for r in claims.verdict_matrix(params, by_preset)}
    tracks = rows["fc1_alpha_tracks_accuracy"]
    assert tracks["cells"]["corrected"] == claims.INCONCLUSIVE and not tracks["changes"]


def test_a_claim_waits_for_the_networks_its_preset_has_still_to_compute(params):
    """as_run lands network by network: a claim reading a network still to come is not judged under it (a dash),
    one reading only networks done is; the fall claims likewise."""
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004], "plain12": [0.002, 0.003, 0.004]}, {})
    results["alphas_by_preset"] = {"as_run": {"resnet12": {"layers": _falling(0.003)}}}
    results["suggestions"]["resnet12"].update(modified=[])

    def as_run(pending: tuple[str, ...]) -> set[str]:
        found = claims.verdicts_by_preset(params, R(params, {**results, "pending": {"as_run": pending}}), orig)
        return {c["id"] for c in found["as_run"]}

    done = as_run(())
    assert {"alpha_rises_abruptly_at_fc1", "deleted_layers_fall"} <= done
    waiting = as_run(("plain12",))  # an analysed network, and one the deleted-layers claim reads
    assert "alpha_rises_abruptly_at_fc1" not in waiting and "deleted_layers_fall" not in waiting
    assert "resnet_converges_faster" in waiting  # accuracies only: no alphas to wait for
    assert as_run(("resnet12_overfit",)) == done  # read by neither


def test_under_the_original_estimator_fc1_comes_from_every_target_and_seed(params):
    """as_run's per-layer stages are still landing, but its stages give every target's fc1, seeds included:
    the correlation claim is judged on all of them, its noise a bootstrap over as_run's own seeds."""
    orig = originals()
    results = _results(params, orig)
    acc = {t: params.target_config(t) for t in params.smoothness.targets}
    # fc1 in the order of accuracy (snapshots at 0.5, below every final network)
    fc1 = {t: 0.05 if tc.weights == "snapshot" else results["runs"][tc.run]["metrics"]["test_accuracy"] / 5
           for t, tc in acc.items()}
    results.update(alphas_by_preset={"as_run": {"resnet12": results["alphas"]["resnet12"]}}, last_layer=fc1,
                   pending={"as_run": tuple(t for t in params.smoothness.every_layer("as_run") if t != "resnet12")})
    view = R(params, results).of("as_run")
    assert view.fc1() == pytest.approx(fc1)
    c = claims.fc1_tracks_accuracy(params, view)
    analysed = claims.analysed_targets(params)
    assert len(c["networks"]) == len(analysed) + 2 and c["seeded"] == ["resnet12", "plain12"]
    assert c["rho"] > 0.9
    # the other presets still read their own per-layer files
    assert R(params, results).fc1("as_reported")["resnet12"] == results["alphas"]["resnet12"]["layers"][-1]["alpha"]


def test_costly_preset_is_measured_in_the_main_presets_seed_sd(params):
    """as_run has one run of resnet12: its gap to the original is counted in the seed sd of the main preset."""
    orig = {"per_layer": {"alpha": {"resnet12": {"conv1_relu": [0.020, 0.021], "fc1": [0.1, 0.101]}}}}
    results = _results(params, orig | {"runs": {}})
    one = {"layers": [{"layer": "conv1_relu", "alpha": 0.0205}, {"layer": "fc1", "alpha": 0.14}], "preset": "as_run"}
    orig["per_layer"]["estimator"] = "as_run"
    results["alphas_by_preset"] = {"as_reported": results["alphas"], "corrected": {"resnet12": one},
                                   "as_run": {"resnet12": one}}
    results["mislabel"] = {}
    (f,) = fidelity.fidelity_by_preset(params, R(params, results), orig)
    # corrected fits the L2 error, not the original's squared error: its alphas are not compared
    assert f["target"] == "resnet12" and f["seeds"] == 3 and set(f["presets"]) == {"as_run"}
    rows = {r["layer"]: r for r in f["presets"]["as_run"]["rows"]}
    assert rows["conv1_relu"]["gap"] == 0.0 and rows["conv1_relu"]["sds"] == 0.0
    # fc1: 0.039 above the interval; the main preset's seed sd of fc1 is 0.01 / 100 = 1e-4
    assert rows["fc1"]["sd_from"] == "as_reported" and rows["fc1"]["sds"] == pytest.approx(0.039 / 1e-4)
    assert f["presets"]["as_run"]["within_noise"] == 1 and f["presets"]["as_run"]["with_sd"] == 2


FALL_LAYERS = ["input", "conv1_relu", "conv2+identity_relu", "avpool", "fc1"]


def _falling(fall: float) -> list[dict]:
    """Layers whose conv2 and avpool average `fall` below conv1 (conv2 and avpool straddle that mean)."""
    values = [0.017, 0.03, 0.03 - fall - 0.001, 0.03 - fall + 0.001, 0.1]
    return [{"layer": name, "alpha": v} for name, v in zip(FALL_LAYERS, values, strict=True)]


def _fall_setup(params: cfg.Params, falls: dict[str, list[float]], single: dict[str, float]) -> tuple[dict, dict]:
    """Results whose seed groups fall by the given per-seed amounts and single runs by one amount each, and
    originals whose only layer-level claim is conv2 and avpool below conv1."""
    orig = originals()
    results = _results(params, orig)
    for group, per_seed in falls.items():
        for run, fall in zip(params.seed_groups[group], per_seed, strict=True):
            results["alphas"][run] = {"layers": _falling(fall)}
    for target, fall in single.items():
        results["alphas"][target] = {"layers": _falling(fall)}
    spec = {"above": "conv1", "below": ["conv2", "avpool"]}
    orig["layer_falls"]["claims"] = {"deleted_layers_fall": {t: spec for t in (*falls, *single)}}
    return results, orig


@pytest.mark.parametrize(("per_seed", "verdict", "z"), [
    ([0.002, 0.003, 0.004], claims.HOLDS, 3.0),           # mean fall 0.003, sd 0.001
    ([0.0, 0.001, 0.002], claims.WITHIN_NOISE, 1.0),       # falls, by one sd
    ([-0.002, -0.001, 0.0], claims.WITHIN_NOISE, -1.0),    # rises by one sd: its sign decides nothing
    ([-0.004, -0.003, -0.002], claims.FAILS, -3.0),        # rises by three
])
def test_layer_fall_is_judged_in_seed_sds(params, per_seed, verdict, z):
    results, orig = _fall_setup(params, {"resnet12": per_seed}, {})
    (c,) = claims.layer_falls(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    (row,) = c["rows"]
    assert c["id"] == "deleted_layers_fall" and c["verdict"] == verdict and row["verdict"] == verdict
    assert row["fall"] == pytest.approx(np.mean(per_seed)) and row["sd"] == pytest.approx(0.001)
    assert row["z"] == pytest.approx(z) and c["z"] == row["z"] and row["runs"] == 3 and not row["borrowed"]
    mean = np.mean(per_seed)
    assert row["under"] == (2 if mean > 0.001 else 1 if mean > -0.001 else 0 if mean > -0.003 else 0)


def test_single_run_borrows_the_largest_seed_sd_and_one_failure_sinks_the_claim(params):
    # plain6 has one run: it borrows the larger sd of the two groups (plain12's 0.002), so 0.005 is 2.5 sd
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004], "plain12": [0.004, 0.006, 0.008]},
                                {"plain6": 0.005})
    (c,) = claims.layer_falls(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    rows = {r["target"]: r for r in c["rows"]}
    assert rows["plain6"]["borrowed"] and rows["plain6"]["sd_from"] == "plain12"
    assert rows["plain6"]["z"] == pytest.approx(2.5) and c["verdict"] == claims.HOLDS
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004]}, {"plain6": -0.005})
    (c,) = claims.layer_falls(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    assert [r["verdict"] for r in c["rows"]] == [claims.HOLDS, claims.FAILS] and c["verdict"] == claims.FAILS
    # a network lacking one of the layers is left out; a claim without networks is not judged
    orig["layer_falls"]["claims"]["deleted_layers_fall"]["plain6"] = {"above": "conv1", "below": ["conv9"]}
    (c,) = claims.layer_falls(params, R(params, results), orig, claims.seed_table(params, R(params, results)))
    assert c["networks"] == ["resnet12"]
    assert claims.layer_falls(params, R(params, {"alphas": {}}), orig, []) == []


def test_costly_preset_falls_are_measured_in_the_main_presets_seed_sd(params):
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004]}, {})
    results.update(mislabel={}, alphas_by_preset={"as_reported": results["alphas"], "corrected": {},
                                                  "as_run": {"resnet12": {"layers": _falling(0.0015)}}})
    results["suggestions"]["resnet12"].update(modified=[])
    results["overfit"].update(run="resnet12_overfit")
    by_preset = claims.verdicts_by_preset(params, R(params, results), orig)
    (row,) = next(c for c in by_preset["as_run"] if c["id"] == "deleted_layers_fall")["rows"]
    assert row["borrowed"] and row["sd_from"] == "resnet12" and row["z"] == pytest.approx(1.5)
    assert row["verdict"] == claims.WITHIN_NOISE
    assert "deleted_layers_fall" not in {c["id"] for c in by_preset["corrected"]}
    text = " ".join(context.environment().from_string(
        '{% import "claims.html" as t with context %}{{ t[c.template](c) }}').render(
        c=next(c for c in by_preset["as_run"] if c["id"] == "deleted_layers_fall")).split())
    assert "resnet12 conv1 0.0300 vs conv2 and avpool 0.0285 (2 of 2 below), a fall of +0.0015 (z +1.50, the sd " \
           "borrowed from resnet12's seeds" in text


def test_the_costly_preset_borrows_its_noise_on_its_own_scale_whichever_preset_leads(params):
    """as_run has no seeds: its single runs are measured in the seed sd of a preset whose alphas are on its scale
    (as_reported), also when corrected (about half the scale) leads the report."""
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004]}, {})
    halved, _ = _fall_setup(params, {"resnet12": [0.001, 0.0015, 0.002]}, {})
    results.update(mislabel={}, alphas_by_preset={"as_reported": results["alphas"], "corrected": halved["alphas"],
                                                  "as_run": {"resnet12": {"layers": _falling(0.0015)}}})
    results["suggestions"]["resnet12"].update(modified=[])
    led = params.model_copy(update={"smoothness": params.smoothness.model_copy(update={"lead": "corrected"})})
    assert claims.noise_source(led, "as_run") == "as_reported" and claims.noise_source(led, "corrected") == "corrected"
    rows = []
    for p, main in ((params, "as_reported"), (led, "corrected")):
        by_preset = claims.verdicts_by_preset(p, R(p, results, main=main), orig)
        (row,) = next(c for c in by_preset["as_run"] if c["id"] == "deleted_layers_fall")["rows"]
        rows.append(row)
    assert rows[0] == rows[1] and rows[0]["z"] == pytest.approx(1.5)


def test_a_preset_with_seeds_of_its_own_measures_single_runs_in_them(params):
    """corrected's alphas are about half the main preset's: a single run is judged in corrected's seed sd."""
    results, orig = _fall_setup(params, {"resnet12": [0.002, 0.003, 0.004]}, {"plain6": 0.003})
    halved, _ = _fall_setup(params, {"resnet12": [0.001, 0.0015, 0.002]}, {"plain6": 0.0015})
    results.update(mislabel={}, alphas_by_preset={"as_reported": results["alphas"], "corrected": halved["alphas"],
                                                  "as_run": {}})
    results["suggestions"]["resnet12"].update(modified=[])
    results["overfit"].update(run="resnet12_overfit")
    by_preset = claims.verdicts_by_preset(params, R(params, results), orig)
    rows = {p: {r["target"]: r for r in next(c for c in found if c["id"] == "deleted_layers_fall")["rows"]}
            for p, found in by_preset.items() if p != "as_run"}
    # the same 3 sd under both presets: corrected's single run borrows corrected's sd (0.0005), not 0.001
    assert rows["as_reported"]["plain6"]["sd"] == pytest.approx(0.001)
    assert rows["corrected"]["plain6"]["sd"] == pytest.approx(0.0005)
    assert rows["corrected"]["plain6"]["z"] == pytest.approx(3.0) == rows["as_reported"]["plain6"]["z"]


def test_a_claim_is_declared_once(params, monkeypatch):
    """A made-up claim: one registry entry (the module) and one macro (the template block) put it in the
    verdicts, the metrics, the matrix of presets and the report's evidence, with nothing else edited."""
    import jinja2

    from replication.stages import metrics

    made_up = claims.Claim("made_up_claim", "Made-up networks are made up.",
                           lambda e: {"id": "made_up_claim", "verdict": claims.z_verdict(3.5), "z": 3.5, "gap": 0.7},
                           lambda c: c["gap"], "a made-up sd")
    monkeypatch.setattr(claims, "CLAIMS", {made_up.id: made_up})
    found = claims.verdicts(params, R(params, {}), {}, [])
    assert found == [{"id": "made_up_claim", "verdict": claims.HOLDS, "z": 3.5, "gap": 0.7,
                      "claim": "Made-up networks are made up.", "template": "made_up_claim"}]
    assert metrics.claim_numbers("as_run", found) == {"claims_z.as_run": {"made_up_claim": 3.5},
                                                      "claims_verdict.as_run": {"made_up_claim": claims.HOLDS},
                                                      "claims_value.as_run": {"made_up_claim": 0.7}}
    assert claims.verdict_matrix(params, {"as_run": found})[0]["id"] == "made_up_claim"
    env = context.environment()
    block = "\n{% macro made_up_claim(c) -%}\nA gap of {{ c.gap | num(1) }}.\n{% endmacro %}\n"
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"claims.html": env.loader.get_source(env, "claims.html")[0]
                                                         + block}), env.loader])
    text = env.from_string('{% import "claims.html" as t with context %}{{ t[c.template](c) }}').render(c=found[0])
    assert text == "A gap of 0.7.\n"


def test_the_registry_and_the_originals_name_the_same_layer_falls():
    layer_claims = {i for i, c in claims.CLAIMS.items() if c.template == "layer_falls"}
    assert layer_claims == set(originals()["layer_falls"]["claims"])


def test_one_rule_turns_z_into_a_verdict():
    assert claims.z_verdict(2.0) == claims.z_verdict(40.0) == claims.HOLDS
    assert claims.z_verdict(-2.0) == claims.z_verdict(-7.5) == claims.FAILS
    assert {claims.z_verdict(z) for z in (-1.999, -0.3, 0.0, 0.3, 1.96, 1.999)} == {claims.WITHIN_NOISE}
    assert claims.z_verdict(None) == claims.INCONCLUSIVE
    # printed with two decimals cut toward zero: never on a threshold it has not reached
    assert [context.z_text(z) for z in (1.996, -1.999, 2.0, 0.004, None)] == ["+1.99", "-1.99", "+2.00", "+0.00", "n/a"]


def test_every_committed_verdict_follows_from_its_z():
    """results/metrics/claims_verdict.PRESET.json as committed: each claim's verdict under each preset is the rule's
    verdict of its z (claims_z.PRESET.json), and the z is there."""
    import json

    from conftest import ROOT

    folder = ROOT / "results" / "metrics"
    cells = []
    for path in sorted(folder.glob("claims_verdict.*.json")):
        zs = json.loads(path.with_name(path.name.replace("claims_verdict.", "claims_z.")).read_text())
        cells += [(path.name, claim_id, verdict, zs[claim_id])
                  for claim_id, verdict in json.loads(path.read_text()).items()]
    assert len(cells) >= 20
    for name, claim_id, verdict, z in cells:
        assert verdict == claims.z_verdict(z), (name, claim_id, verdict, z)
