"""Claims as numbers and verdicts, on hand-made results with known spreads: every noise is the claim's own (a
network's own seeds, or the standard error of a difference of two seed means), the claim table has its fixed
columns, and the report's sentences come from the findings."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from tables import results as R

from replication.analysis import claims, fidelity, zscore
from replication.analysis.claims import base
from replication.analysis.originals import originals
from replication.analysis.seed_groups import in_sds, seed_table
from replication.report import context
from replication.report import settings as cfg

LAYERS = ["input", "conv1_relu", "conv2_relu", "avpool", "fc1"]
FALL_LAYERS = ["input", "conv1_relu", "conv2+identity_relu", "avpool", "fc1"]


@pytest.fixture
def params(raw) -> cfg.Params:
    return _params(raw)


def _params(raw: dict) -> cfg.Params:
    """The project's params with five seeds of every network (as trained), and smoothness targets for the seeds of
    ResNet12 and Plain12 only: Plain6 and the others have one analysed seed."""
    targets = raw["smoothness"]["targets"]
    for name in list(targets):
        run = targets[name]["run"]
        if "_seed" in run and not run.startswith(("resnet12_seed", "plain12_seed")):
            del targets[name]
    params = cfg.parse(raw)
    assert len(params.seed_groups["plain6"]) == 5 and params.seed_groups["resnet12"][0] == "resnet12"
    return params


def _runs(params: cfg.Params, accuracy: dict[str, list[float]] | None = None,
          epochs: dict[str, list[int]] | None = None) -> dict:
    """Every run at 0.6 accuracy and epoch 30, but the networks given: their seeds' values in seed order."""
    runs = {name: {"metrics": {"test_accuracy": 0.6, "restored_epoch": 30}} for name in params.runs}
    for network, values in (accuracy or {}).items():
        for run, v in zip(params.seed_groups[network], values, strict=True):
            runs[run]["metrics"]["test_accuracy"] = v
    for network, values in (epochs or {}).items():
        for run, v in zip(params.seed_groups[network], values, strict=True):
            runs[run]["metrics"]["restored_epoch"] = v
    return runs


def _falling(fall: float) -> list[dict]:
    """Layers whose conv2 and avpool average `fall` below conv1 (conv2 and avpool straddle that mean)."""
    values = [0.017, 0.03, 0.03 - fall - 0.001, 0.03 - fall + 0.001, 0.1]
    return [{"layer": name, "alpha": v} for name, v in zip(FALL_LAYERS, values, strict=True)]


def _fall_results(params: cfg.Params, falls: dict[str, list[float]]) -> tuple[dict, dict]:
    """Results whose networks fall by the given per-seed amounts (one amount: the first seed only) and originals
    whose one layer-level claim is conv2 and avpool below conv1 in these networks."""
    orig = originals()
    alphas = {}
    for network, per_seed in falls.items():
        for run, fall in zip(params.seed_groups[network], per_seed, strict=False):
            alphas[run] = {"layers": _falling(fall)}
    orig["layer_falls"]["claims"] = {"deleted_layers_fall": {
        t: {"above": "conv1", "below": ["conv2", "avpool"]} for t in falls}}
    return {"runs": _runs(params), "alphas": alphas}, orig


def _evidence(params: cfg.Params, spec: dict, orig: dict | None = None, preset: str | None = None) -> base.Evidence:
    return base.Evidence(params, R(params, spec, main=preset), orig or originals())


def test_one_rule_turns_z_into_a_verdict():
    assert claims.z_verdict(2.0) == claims.z_verdict(40.0) == claims.HOLDS
    assert claims.z_verdict(-2.0) == claims.z_verdict(-7.5) == claims.FAILS
    assert {claims.z_verdict(z) for z in (-1.999, -0.3, 0.0, 0.3, 1.96, 1.999)} == {claims.WITHIN_NOISE}
    assert claims.z_verdict(None) == claims.INCONCLUSIVE
    # printed with two decimals cut toward zero: never on a threshold it has not reached
    assert [context.z_text(z) for z in (1.996, -1.999, 2.0, 0.004, None)] == ["+1.99", "-1.99", "+2.00", "+0.00", "n/a"]


def test_in_sds_z_and_spearman():
    assert in_sds(-0.3, 0.1) == pytest.approx(3.0) and in_sds(0.3, 0.0) is None
    assert zscore.z_of(-0.3, 0.1) == pytest.approx(-3.0) and zscore.z_of(0.3, 0.0) is None
    # a rank correlation of n points is never measured in less than its no-correlation sd 1/sqrt(n - 1)
    assert zscore.rank_noise(5, 0.0) == 0.5 and zscore.rank_noise(5, 0.7) == 0.7
    assert zscore.spearman({"a": 3, "b": 2, "c": 1}, {"a": 30, "b": 20, "c": 10}) == pytest.approx(1.0)
    # ties share their mean rank: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4) give 0.9487; without that, 0.8 or 1.0
    tied = zscore.spearman({"a": 1, "b": 2, "c": 2, "d": 3}, {"a": 1, "b": 2, "c": 3, "d": 4})
    assert tied == pytest.approx(0.9486833)


def test_the_standard_error_of_a_difference_of_two_seed_means():
    # sd 1 over 3 seeds each: sqrt(1/3 + 1/3)
    assert zscore.se_of_difference([1, 2, 3], [4, 5, 6]) == pytest.approx(np.sqrt(2 / 3))
    # more seeds, smaller error; one seed, none
    assert zscore.se_of_difference([1, 2, 3] * 3, [4, 5, 6] * 3) < zscore.se_of_difference([1, 2, 3], [4, 5, 6])
    assert zscore.se_of_difference([1.0], [4, 5, 6]) is None


def test_convergence_is_judged_in_the_standard_error_of_the_difference(params):
    """The report's case: 32.0 +- 2.4 against 43.4 +- 5.8 epochs over five seeds each is about 4 standard errors of
    the difference (the gap over a single network's sd, 5.8, would call it within noise)."""
    spec = {"runs": _runs(params, epochs={"resnet12": [36, 32, 32, 30, 30], "plain12": [49, 42, 46, 34, 46]})}
    c = claims.CLAIMS["resnet_converges_faster"].measure(_evidence(params, spec))
    se = zscore.se_of_difference([36, 32, 32, 30, 30], [49, 42, 46, 34, 46])
    assert c["effect"] == pytest.approx(11.4) and c["noise"] == pytest.approx(se) and c["z"] == pytest.approx(11.4 / se)
    assert c["z"] > 4 and c["earlier_pairs"] == 24 and c["pairs"] == 25
    spec = {"runs": _runs(params, epochs={"resnet12": [44, 45, 43, 44, 44], "plain12": [30, 31, 29, 30, 30]})}
    assert claims.z_verdict(claims.CLAIMS["resnet_converges_faster"].measure(_evidence(params, spec))["z"]) == \
        claims.FAILS


def test_pruned_networks_are_judged_pair_by_pair_in_their_own_noise(params):
    suggestions = {"resnet12": {"test_accuracy": 0.65, "params": 100, "modified": [
        {"run": "resnet10", "test_accuracy": 0.645, "params": 90, "network": "resnet10"}]}}
    spread = [-0.002, -0.001, 0.0, 0.001, 0.002]  # sd 0.00158 over five seeds
    spec = {"runs": _runs(params, accuracy={"resnet12": [0.65 + d for d in spread],
                                            "resnet10": [0.645 + d for d in spread]}), "suggestions": suggestions}
    c = claims.CLAIMS["smaller_networks_do_as_well"].measure(_evidence(params, spec))
    (pair,) = c["items"]
    # 0.5 points below, 1 point allowed: 0.5 points to spare, in the standard error of the difference (0.001)
    assert pair["effect"] == pytest.approx(0.005) and pair["noise"] == pytest.approx(0.001)
    assert c["z"] == pytest.approx(5.0)
    spec["runs"] = _runs(params, accuracy={"resnet12": [0.65 + d for d in spread],
                                           "resnet10": [0.62 + d for d in spread]})
    assert claims.CLAIMS["smaller_networks_do_as_well"].measure(_evidence(params, spec))["z"] == pytest.approx(-20.0)


@pytest.mark.parametrize(("per_seed", "verdict"), [
    ([0.002, 0.003, 0.004, 0.003, 0.003], claims.HOLDS),           # mean 0.003, sd 0.0007: z 4.2
    ([0.0, 0.001, 0.002, 0.001, 0.001], claims.WITHIN_NOISE),      # falls by 1.4 sd
    ([-0.004, -0.003, -0.002, -0.003, -0.003], claims.FAILS),      # rises by 4.2 sd
])
def test_layer_fall_is_judged_in_its_own_seed_sd(params, per_seed, verdict):
    results, orig = _fall_results(params, {"resnet12": per_seed})
    c = claims.CLAIMS["deleted_layers_fall"].measure(_evidence(params, results, orig))
    (row,) = c["rows"]
    sd = float(np.std(per_seed, ddof=1))
    assert row["effect"] == pytest.approx(np.mean(per_seed)) and row["noise"] == pytest.approx(sd)
    assert row["z"] == pytest.approx(np.mean(per_seed) / sd) and row["runs"] == 5 and c["z"] == row["z"]
    assert claims.z_verdict(c["z"]) == verdict


def test_a_network_with_one_analysed_seed_borrows_no_noise(params):
    """Plain6 has one analysed seed: it is named and left out of the verdict (never measured in ResNet12's sd);
    with no network of seeds at all, the claim is inconclusive and says why."""
    results, orig = _fall_results(params, {"resnet12": [0.002, 0.003, 0.004, 0.003, 0.003], "plain6": [-0.01]})
    c = claims.CLAIMS["deleted_layers_fall"].measure(_evidence(params, results, orig))
    rows = {r["item"]: r for r in c["rows"]}
    assert rows["plain6"]["z"] is None and rows["plain6"]["noise"] is None
    assert rows["plain6"]["note"] == "one training seed analysed"
    assert c["z"] == rows["resnet12"]["z"] > 2 and "not judged: one training seed analysed: plain6" in c["note"]
    results, orig = _fall_results(params, {"plain6": [0.01]})
    c = claims.CLAIMS["deleted_layers_fall"].measure(_evidence(params, results, orig))
    assert c["z"] is None and c["note"] == "no network has noise of its own (one training seed analysed: plain6)"


def test_mislabel_steps_are_judged_in_the_larger_of_their_own_noises(params):
    means = [0.1, 0.05, 0.02, 0.01, 0.005]
    spec = {"runs": _runs(params), "mislabel": {"as_run": [{"alpha_mean": m, "alpha_std": 0.001} for m in means]}}
    c = claims.CLAIMS["mislabel_lowers_alpha"].measure(_evidence(params, spec, preset="as_run"))
    # one training seed: the shuffle noise alone, hypot(0.001, 0.001); the weakest step is 0.01 -> 0.005
    assert c["z"] == pytest.approx(0.005 / np.hypot(0.001, 0.001)) and c["monotone"]
    spec["mislabel_seeds"] = {"resnet12_seed1": {"as_run": [{"alpha_mean": m} for m in (0.1, 0.05, 0.02, 0.015, 0.0)]}}
    c = claims.CLAIMS["mislabel_lowers_alpha"].measure(_evidence(params, spec, preset="as_run"))
    assert c["runs_monotone"] == 2 and c["steps"][2]["train_sd"] == pytest.approx(np.std([0.01, 0.005], ddof=1))
    c = claims.CLAIMS["mislabel_lowers_alpha"].measure(_evidence(params, spec, preset="corrected"))
    assert isinstance(c, str) and "not run under corrected" in c


def _table(params: cfg.Params) -> tuple[list[base.Row], dict]:
    results, orig = _fall_results(params, {"resnet12": [0.002, 0.003, 0.004, 0.003, 0.003]})
    results["runs"] = _runs(params, epochs={"resnet12": [36, 32, 32, 30, 30], "plain12": [49, 42, 46, 34, 46]})
    findings = claims.judge(params, R(params, results), orig)
    return claims.table(findings), findings


@pytest.fixture(scope="module")
def judged(raw_params) -> tuple[list[base.Row], dict]:
    """`_table` of the fixture's params, judged once (about 1.4 s) for the tests that only read it."""
    return _table(_params(copy.deepcopy(raw_params)))


def test_the_claim_table_has_its_columns_and_one_verdict_row_per_claim_and_preset(params, judged):
    rows, findings = judged
    assert claims.COLUMNS == ("claim", "preset", "item", "effect", "noise", "z", "verdict", "unit", "note")
    assert list(findings) == list(params.smoothness.ordered)
    whole = [(r.claim, r.preset) for r in rows if r.item == claims.WHOLE]
    expected = [*claims.CLAIMS, *claims.SENTENCES]
    assert sorted(whole) == sorted((c, p) for c in expected for p in params.smoothness.ordered)
    for r in rows:
        assert r.verdict == claims.z_verdict(r.z) and r.unit
        if r.item == claims.WHOLE and r.z is None:
            assert r.note, r  # a claim a preset cannot judge says why in words
    converge = next(r for r in rows if r.claim == "resnet_converges_faster" and r.item == claims.WHOLE)
    assert converge.verdict == claims.HOLDS and "standard error" in converge.unit


def test_a_split_sentence_is_judged_as_its_weaker_part(params, judged):
    rows, _ = judged
    by = {(r.claim, r.preset): r for r in rows if r.item == claims.WHOLE}
    for preset in params.smoothness.ordered:
        parts = [by[(p, preset)].z for p in claims.SENTENCES["flat_then_abrupt_rise"]]
        assert by[("flat_then_abrupt_rise", preset)].z == zscore.weakest(parts)


def test_a_claim_is_declared_once(params, monkeypatch):
    """A made-up claim: one registry entry and one macro put it in the claim table, the metrics, the declarations
    the report prints and the report's evidence, with nothing else edited."""
    import jinja2

    from replication.stages import metrics

    made_up = claims.Claim("made_up_claim", "Made-up networks are made up.", "Made-up networks are made up.",
                           lambda e: {"items": [], "z": 3.5, "effect": 0.7, "noise": 0.2, "gap": 0.7},
                           lambda c: c["gap"], "a made-up unit")
    monkeypatch.setattr(claims, "CLAIMS", {made_up.id: made_up})
    monkeypatch.setattr(claims, "SENTENCES", {})
    findings = claims.judge(params, R(params, {}), {})
    rows = claims.table(findings)
    assert [(r.claim, r.verdict, r.z) for r in rows if r.preset == "as_run"] == [("made_up_claim", claims.HOLDS, 3.5)]
    numbers = metrics.claim_numbers(rows, findings)
    assert numbers["claims_z.as_run"] == {"made_up_claim": 3.5} and numbers["claims_value.as_run"] == {
        "made_up_claim": 0.7}
    assert claims.declarations() == [{"id": "made_up_claim", "quote": made_up.quote, "text": made_up.text,
                                      "unit": "a made-up unit", "uses_alpha": True, "template": "made_up_claim"}]
    env = context.environment()
    block = "\n{% macro made_up_claim(c) -%}\nA gap of {{ c.gap | num(1) }}.\n{% endmacro %}\n"
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"claims.html": env.loader.get_source(env, "claims.html")[0]
                                                         + block}), env.loader])
    text = env.from_string('{% import "claims.html" as t with context %}{{ t[c.template](c.finding) }}').render(
        c={"template": "made_up_claim", "finding": findings["as_run"]["made_up_claim"]})
    assert text == "A gap of 0.7.\n"


def test_the_report_reads_the_claim_table_and_judges_nothing(params, judged, tmp_path):
    """claim_page puts each claim's verdict rows beside each other, the lead first, from the files alone: a verdict
    edited in the file is what the report shows."""
    from replication.core import registry as layout
    from replication.core.files import write_csv, write_json

    rows, findings = judged
    write_csv(tmp_path / layout.CLAIMS_TABLE, [r.as_dict() for r in rows], list(claims.COLUMNS))
    write_json(tmp_path / layout.CLAIMS_EVIDENCE, {"claims": claims.declarations(), "findings": findings})
    page = context.claim_page(context.claim_rows(tmp_path), json.loads((tmp_path / layout.CLAIMS_EVIDENCE).read_text()),
                              params.smoothness.ordered)
    assert [c["id"] for c in page] == [*claims.CLAIMS, *claims.SENTENCES]
    converge = page[[c["id"] for c in page].index("resnet_converges_faster")]
    assert [p for p, _ in converge["cells"]] == list(params.smoothness.ordered)
    assert converge["lead"]["verdict"] == claims.HOLDS and converge["quote"].startswith("As expected the ResNet12")
    edited = [{**r.as_dict(), "verdict": "edited"} for r in rows]
    write_csv(tmp_path / layout.CLAIMS_TABLE, edited, list(claims.COLUMNS))
    page = context.claim_page(context.claim_rows(tmp_path), json.loads((tmp_path / layout.CLAIMS_EVIDENCE).read_text()),
                              params.smoothness.ordered)
    assert {c["lead"]["verdict"] for c in page} == {"edited"}


def test_every_claim_sentence_renders_from_its_finding(params, judged):
    rows, findings = judged
    env = context.environment()
    for claim_id, finding in findings["as_run"].items():
        if isinstance(finding, dict):
            template = claims.CLAIMS[claim_id].template or claim_id
            text = env.from_string('{% import "claims.html" as t with context %}{{ t[name](f) }}').render(
                name=template, f=finding)
            assert len(text.split()) > 5, claim_id
    text = " ".join(env.from_string('{% import "claims.html" as t with context %}{{ t[name](f) }}').render(
        name="resnet_converges_faster", f=findings["as_run"]["resnet_converges_faster"]).split())
    assert "earlier in 24 of 25 seed pairs" in text and "standard error of that difference" in text


def test_the_network_table_uses_each_networks_own_seeds(params):
    """Page 1: every network's accuracy against the original in its own seed sd; fc1 only where two or more seeds
    were analysed, never in another network's spread."""
    orig = originals()
    spread = [-0.002, -0.001, 0.0, 0.001, 0.002]
    acc = {n: [orig["runs"].get(n, {"test_accuracy": 0.6})["test_accuracy"] + 0.005 + d for d in spread]
           for n in params.seed_groups}
    fc1 = {t: 0.1 for t in params.smoothness.targets}
    rows = {r["run"]: r for r in fidelity.summary_rows(params, R(params, {"runs": _runs(params, acc),
                                                                          "last_layer": fc1}), orig)}
    sd = float(np.std(spread, ddof=1))
    assert rows["plain6"]["accuracy_z"] == pytest.approx(0.005 / sd) and rows["plain6"]["accuracy_sd"] == \
        pytest.approx(sd)
    assert rows["plain6"]["fc1_sd"] is None and rows["plain6"]["fc1_z"] is None and rows["plain6"]["fc1_seeds"] == 1
    assert rows["resnet12"]["fc1_seeds"] == 5 and rows["resnet12"]["fc1_sd"] == pytest.approx(0.0)
    assert not any("borrowed" in key for r in rows.values() for key in r)


def test_noise_between_networks_is_the_standard_error_of_the_difference(params):
    orig = originals()
    spec = {"runs": _runs(params, epochs={"resnet12": [36, 32, 32, 30, 30], "plain12": [49, 42, 46, 34, 46]})}
    res = R(params, spec)
    noise = fidelity.noise(params, res, orig, seed_table(params, res))
    pair = next(p for p in noise["pairs"] if {p["a"].group, p["b"].group} == {"resnet12", "plain12"})
    se = zscore.se_of_difference([36, 32, 32, 30, 30], [49, 42, 46, 34, 46])
    assert abs(pair["epoch_sds"]) == pytest.approx(11.4 / se)
    assert "far" not in noise and "overfit" not in noise  # no single run against a borrowed spread; overfit: a claim


def test_layer_fidelity_measures_the_gap_to_the_original_interval(params):
    orig = {"per_layer": {"alpha": {"plain6": {"input": [0.017, 0.018], "fc1": [0.1, 0.101]}}}}
    results = {"alphas": {"plain6": {"preset": "as_run", "layers": [{"layer": "input", "alpha": 0.0175},
                                                                     {"layer": "fc1", "alpha": 0.09}]}}}
    (f,) = fidelity.layer_fidelity(params, R(params, results), orig, [])
    assert [r["gap"] for r in f["rows"]] == [0.0, pytest.approx(-0.01)]
    assert f["close"] == 1 and f["with_sd"] == 0 and f["seeds"] == 1


def test_the_registry_and_the_originals_name_the_same_layer_falls():
    layer_claims = {i for i, c in claims.CLAIMS.items() if c.template == "layer_falls"}
    assert layer_claims == set(originals()["layer_falls"]["claims"])


def test_every_claim_quotes_the_original_report():
    from conftest import ROOT

    report = " ".join((ROOT.parent / "shared" / "reference" / "seed_report.txt").read_text().split())
    for claim in claims.CLAIMS.values():
        assert " ".join(claim.quote.split()) in report, claim.id


def test_every_committed_verdict_follows_from_its_z():
    """results/claims.csv as committed: each row's verdict is the rule's verdict of its z, a row without a z says
    why, and results/metrics/claims_verdict.PRESET.json agrees with it."""
    import csv

    from conftest import ROOT

    rows = list(csv.DictReader((ROOT / "results" / "claims.csv").open()))
    assert len(rows) >= 30 and tuple(rows[0]) == claims.COLUMNS
    for r in rows:
        z = float(r["z"]) if r["z"] else None
        assert r["verdict"] == claims.z_verdict(z), r
        assert z is not None or r["note"] or r["item"] != claims.WHOLE, r
    for path in sorted((ROOT / "results" / "metrics").glob("claims_verdict.*.json")):
        preset = path.name.split(".")[1]
        for claim_id, verdict in json.loads(path.read_text()).items():
            (row,) = [r for r in rows if (r["claim"], r["preset"], r["item"]) == (claim_id, preset, claims.WHOLE)]
            assert row["verdict"] == verdict
