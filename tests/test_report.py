"""Report sentences about seed noise, on hand-made results with known spreads."""

from __future__ import annotations

from replication import config as cfg
from replication import report

LAYERS = ["input", "conv1_relu", "conv2_relu", "avpool", "fc1"]


def _results(params: cfg.Params, orig: dict, seed_sd: float = 0.01) -> dict:
    """Every single run at its original accuracy; the seeds of each group spread by about seed_sd."""
    runs = {}
    for name in params.runs:
        base = orig["runs"].get(name, {"test_accuracy": 0.6})["test_accuracy"]
        runs[name] = {"metrics": {"test_accuracy": base, "restored_epoch": 30,
                                  "snapshot": {"test_accuracy": 0.5}}}
    alphas = {}
    for runs_of_group in params.report.seed_groups.values():
        for i, r in enumerate(runs_of_group):
            offset = (i - 1) * seed_sd  # -sd, 0, +sd: sample sd = seed_sd
            runs[r]["metrics"]["test_accuracy"] = runs[runs_of_group[0]]["metrics"]["test_accuracy"] + offset
            alphas[r] = {"layers": [{"layer": name, "alpha": 0.02 + k * 0.001 + offset / 100}
                                    for k, name in enumerate(LAYERS)]}
    drops = [{"layer": "conv2_relu", "previous": "conv1_relu", "drop": 0.01},  # 100 sds of those layers
             {"layer": "avpool", "previous": "conv2_relu", "drop": 0.00005}]  # half an sd
    overfit = {"baseline_run": "resnet12",
               "layers": [{"layer": name, "difference": -0.01 if name == "conv1_relu" else 0.0} for name in LAYERS]}
    return {"runs": runs, "alphas": alphas, "overfit": overfit,
            "suggestions": {"resnet12": {"drops": drops}}}


def test_noise_findings_name_what_exceeds_the_seed_spread():
    params = cfg.load()
    orig = report.originals()
    results = _results(params, orig)
    seeds = report.seed_table(params, results)
    lines = report.noise_findings(params, results, orig, seeds)
    text = " ".join(lines)
    assert "none of the 10 single runs differ" in text
    assert "1 of 2 alpha falls exceeds 2 x the seed sd of the two layers (conv2_relu)" in text
    assert "1 of 2 conv layers are lower by more than 2 seed sds" in text

    # One run 5 points below the original (the spread is 1 point): it is named with its difference.
    results["runs"]["plain6"]["metrics"]["test_accuracy"] -= 0.05
    text = " ".join(report.noise_findings(params, results, orig, seeds))
    assert "1 of 10 single runs differs from the original by more (plain6 -5.00)" in text


def test_noise_findings_scale_with_the_spread():
    """A 1-point gap from the original is noise when seeds spread 1 point, signal when they spread 0.1."""
    params = cfg.load()
    orig = report.originals()
    for sd, expected in ((0.01, "none of the 10"), (0.001, "1 of 10")):
        results = _results(params, orig, seed_sd=sd)
        results["runs"]["resnet10"]["metrics"]["test_accuracy"] -= 0.01
        seeds = report.seed_table(params, results)
        assert expected in " ".join(report.noise_findings(params, results, orig, seeds)), sd


def test_no_seed_groups_no_findings():
    params = cfg.load()
    assert report.noise_findings(params, {}, report.originals(), []) == []
