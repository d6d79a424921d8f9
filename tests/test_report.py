"""The report's provenance: the commit it is rendered from and whether its inputs differ from it."""

from __future__ import annotations

import subprocess

from conftest import ROOT

from replication.report import context, draw, provenance
from replication.report import settings as cfg


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_git_state_counts_inputs_but_not_the_reports_own_outputs(tmp_path):
    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None, "results_date": None}
    lock = "schema: '2.0'\nstages:\n  train:\n    cmd: a\n  report:\n    cmd: r\n"
    (tmp_path / "dvc.lock").write_text(lock)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("old")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "x")
    state = provenance.git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    # what a render itself changes: the report folder and the report's entry in dvc.lock
    (tmp_path / "report" / "index.html").write_text("new")
    (tmp_path / "dvc.lock").write_text(lock.replace("cmd: r", "cmd: r2"))
    assert provenance.git_state(tmp_path)["dirty"] is False
    # an input: another stage's entry, or params.yaml
    (tmp_path / "dvc.lock").write_text(lock.replace("cmd: a", "cmd: b"))
    assert provenance.git_state(tmp_path)["dirty"] is True
    (tmp_path / "dvc.lock").write_text(lock)
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert provenance.git_state(tmp_path)["dirty"] is True


def test_captions_name_large_stage_groups_once():
    made = [(f"mislabel@r{i}-as_run-0.5", f"results/mislabel/r{i}/as_run/0.5.json") for i in range(13)]
    made += [("overfit", "results/overfit/summary.json")]
    out = provenance.compact_sources(made)
    assert out["links"] == [("mislabel@* (13 stages)", "results/mislabel"), ("overfit", "results/overfit/summary.json")]
    assert out["command"] == "mislabel overfit"
    assert provenance.compact_sources(made[:3])["command"] == " ".join(stage for stage, _ in made[:3])


def test_alpha_table_rows_follow_the_deepest_network_and_keep_extra_layers():
    from replication.analysis.results import alpha_rows

    def alphas(*names):
        return {"run": "r", "weights": "final", "network": "n", "layers": [
            {"layer": n, "alpha": 0.01 * (i + 1), "r2": 0.9, "intercept": 0.0, "seconds": 1.0}
            for i, n in enumerate(names)]}
    table = context.alpha_table(alpha_rows({("p", "short"): alphas("input", "conv1_relu", "fc1"),
                                           ("p", "deep"): alphas("input", "conv1_relu", "conv2+identity_relu",
                                                                 "avpool", "fc1"),
                                           ("p", "odd"): alphas("input", "conv9_tanh")}))
    assert table["targets"] == ["short", "deep", "odd"]
    assert table["layers"] == ["input", "conv1", "conv2", "avpool", "fc1", "conv9"]
    assert table["by_short"]["deep"]["conv2"] == 0.03 and "conv2" not in table["by_short"]["short"]


def test_one_colour_per_network():
    from replication.report import figures

    networks = tuple(cfg.load(ROOT / "params.yaml").networks)
    colours = {n: figures._color(n, networks) for n in networks}
    assert len(set(colours.values())) == len(networks)  # no two networks share a colour
    assert colours["resnet12"] == figures.RESNET and colours["plain12"] == figures.PLAIN
    assert figures._color("plain12", networks[:3]) == colours["plain12"]  # the base networks keep theirs


def test_every_preset_but_the_lead_has_a_marker_whichever_leads():
    """The fidelity figure draws the lead as dots and every other preset with its own marker: a lead switched
    with -S smoothness.lead=corrected once left as_reported without one (KeyError in the report)."""
    raw = cfg.load().model_dump(mode="json")
    for lead in ("as_reported", "corrected"):
        sm = cfg.parse({**raw, "smoothness": {**raw["smoothness"], "lead": lead}}).smoothness
        markers = draw.preset_markers(sm)
        assert set(markers) == set(sm.ordered) - {lead}
        assert len(set(markers.values())) == len(markers)


def test_a_verdict_count_reads_as_a_sentence():
    assert context.claims_with(1, "holds") == "1 claim holds"
    assert context.claims_with(3, "holds") == "3 claims hold"
    assert context.claims_with(2, "does not hold") == "2 claims do not hold"
    assert context.claims_with(6, "within noise") == "6 claims are within noise"
    assert context.claims_with(1, "inconclusive") == "1 claim is inconclusive"


def test_seed_panels_draw_the_lead_where_two_seeds_have_every_layer_else_the_next_preset():
    """The seed figure once drew every group in one row, under the lead only: groups whose seeds have the last
    layer only came out as empty panels with overlapping titles."""
    params = cfg.load()
    groups = params.seed_groups
    assert {"resnet12", "plain12", "plain6"} <= set(groups)

    class Stub:
        def __init__(self, layered: dict):  # (run, preset) -> number of layers; absent = not computed
            self.layered = layered

        def has(self, run, preset=None):
            return (run, preset) in self.layered

        def layers(self, run, preset=None):
            return [0.1] * self.layered[(run, preset)]

    lead, other = params.smoothness.ordered[:2]
    layered = {(r, p): 1 for runs in groups.values() for r in runs for p in params.smoothness.ordered}
    layered.update({(groups["resnet12"][0], lead): 14, **{(r, other): 14 for r in groups["resnet12"]}})
    layered.update({(r, lead): 14 for r in groups["plain12"][:2]})
    panels = draw.seed_panels(params, Stub(layered))
    assert panels["resnet12"] == (other, list(groups["resnet12"]))  # one seed under the lead is no spread
    assert panels["plain12"] == (lead, list(groups["plain12"][:2]))
    assert "plain6" not in panels  # last layer only under every preset
