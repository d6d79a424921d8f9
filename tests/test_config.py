"""params.yaml loads into frozen, validated settings; bad keys fail with the file, key, value and what is allowed."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from replication.core import registry as layout
from replication.report import settings as cfg


def test_project_params_load():
    params = cfg.load()
    assert params.train.batch_size == 250
    assert params.data.val_size == 10000
    assert params.network_config("resnet10_noavgpool").lr == pytest.approx(5.0e-4)
    assert isinstance(params.data.mean, tuple)
    with pytest.raises(ValidationError, match="frozen"):
        params.train.batch_size = 1


def test_unknown_key(raw):
    raw["train"]["batch_szie"] = 10
    with pytest.raises(cfg.ConfigError, match=r"unknown key 'train.batch_szie'"):
        cfg.parse(raw)


def test_missing_key(raw):
    del raw["data"]["split_seed"]
    with pytest.raises(cfg.ConfigError, match=r"params.yaml: missing key 'data.split_seed'"):
        cfg.parse(raw)


def test_float_written_without_dot_is_a_string(raw):
    raw["networks"]["resnet12"]["lr"] = "5e-4"  # what PyYAML makes of `lr: 5e-4`
    message = r"networks.resnet12.lr' must be a valid number \(got '5e-4'\).*write 5.0e-4"
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse(raw)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train", "batch_size", 2.5, "train.batch_size' must be a valid integer"),
        ("train", "batch_size", True, "train.batch_size' must be a valid integer"),
        ("base", "deterministic", "yes", "base.deterministic' must be a valid boolean"),
        ("data", "mean", 0.5, "data.mean' must be a valid tuple"),
        ("base", "device", "tpu", "base.device' must be 'auto', 'cpu' or 'cuda' \\(got 'tpu'\\)"),
        # sizes that used to slice from the end or reach torch
        ("data", "limit_train", -5, "data.limit_train' must be greater than or equal to 0 \\(got -5\\)"),
        ("smoothness", "limit_samples", -49000, "smoothness.limit_samples' must be greater than or equal to 0"),
        ("train", "batch_size", 0, "train.batch_size' must be greater than or equal to 1"),
        ("train", "eval_batch_size", -1, "train.eval_batch_size' must be greater than or equal to 1"),
        ("train", "patience", 0, "train.patience' must be greater than or equal to 1"),
        ("base", "threads", -2, "base.threads' must be greater than or equal to 0"),
        ("data", "val_size", 0, "data.val_size' must be greater than or equal to 1"),
        ("data", "mean", [0.5, 0.5], "data.mean': must hold 3 values, one per colour channel, not 2"),
        ("data", "std", [1.0, 0.0, 1.0], "data.std': every std must be positive"),
        ("smoothness", "lead", "nope", "smoothness.lead is 'nope', which is not in smoothness.presets"),
        ("smoothness", "presets", {"as_run": {"n_trees": 0}}, "preset 'as_run': key 'n_trees' must be greater"),
        ("smoothness", "presets", {"as_run": {"trees": 3}}, "preset 'as_run': unknown estimator field 'trees'"),
        ("smoothness", "presets", {"as_run": {"norm": "l1"}}, "key 'norm' must be 'volume' or 'empirical'"),
        ("smoothness", "presets", {"as_run": {"layers": "some"}}, "preset 'as_run': layers must be 'all' or 'last'"),
        ("smoothness", "presets", {"as_run": {"targets": ["resnet12"]}}, "preset 'as_run': `targets` is gone; give"),
        ("smoothness", "presets", {"As Run": {}}, "name 'As Run' at 'smoothness.presets.As Run.\\[key\\]' must match"),
    ],
)
def test_mistyped_keys(raw, section, key, value, message):
    raw[section][key] = value
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse(raw)


def test_references_are_checked(raw):
    raw["runs"]["resnet12"]["network"] = "resnet13"
    with pytest.raises(cfg.ConfigError, match="runs.resnet12.network is 'resnet13'"):
        cfg.parse(raw)


def test_unknown_run_lists_known_ones():
    with pytest.raises(cfg.ConfigError, match="unknown name 'nope' in runs; known: .*resnet12"):
        cfg.load().run_config("nope")


def test_stopping_choice(raw):
    raw["runs"]["plain12"]["stopping"] = "early"
    message = "runs.plain12.stopping' must be 'as_coded', 'patience' or 'none' \\(got 'early'\\)"
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse(raw)


def test_retrain_is_off_by_default_and_checked(raw):
    assert cfg.parse(raw).mislabel.retrain == ()
    del raw["mislabel"]["retrain"]
    assert cfg.parse(raw).mislabel.retrain == ()  # optional key
    raw["mislabel"]["retrain"] = [0.5, 1.2]
    with pytest.raises(cfg.ConfigError, match=r"mislabel.retrain.1' must be less than or equal to 1 \(got 1.2\)"):
        cfg.parse(raw)
    raw["mislabel"].update(retrain=[], seeds=[])
    with pytest.raises(cfg.ConfigError, match=r"mislabel.seeds' .*at least 1 item"):
        cfg.parse(raw)


def test_one_table_of_choices():
    """The stopping rules and presets params.yaml accepts are the ones the code implements."""
    from typing import get_args

    from replication.estimator import settings as estimator
    from replication.networks import nets, stopping
    from replication.networks import settings as networks

    assert set(get_args(networks.StoppingRule)) == set(stopping.RULES)
    assert set(get_args(estimator.Estimator.model_fields["norm"].annotation)) == {"volume", "empirical"}
    for name in get_args(networks.Activation):  # every accepted activation builds
        nets._activation(name)


def test_report_names_must_exist(raw):
    raw["claims"]["pruned"] = ["resnet11"]
    with pytest.raises(cfg.ConfigError, match="claims.converge/pruned entry is 'resnet11', which is not in runs"):
        cfg.parse(raw)


@pytest.mark.parametrize("override, key", [("report.title=My replication", "title"), ("train.patience=7", "patience"),
                                           ("base.threads=1", "threads"), ("runs.plain6.seed=7", "seed"),
                                           ("smoothness.limit_samples=500", "limit_samples"),
                                           ("claims.bootstrap.samples=10", "samples"),
                                           ("smoothness.presets.corrected.x_offset=1", "x_offset"),
                                           ("overfit.run=plain6", "run")])
def test_dvc_set_param_changes_exactly_one_line(tmp_path, override, key):
    """`dvc exp run -S KEY=VALUE` rewrites params.yaml with dvc.utils.hydra.apply_overrides (what DVC's experiment
    queue calls): one line changes; every other line, comments and blank lines included, stays as it was."""
    from conftest import ROOT
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    copy.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(str(copy), [override])
    before, after = (ROOT / "params.yaml").read_text().splitlines(), copy.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    # a key of a block mapping starts its line; one of a flow mapping ({network: plain6, seed: 0}) is inside it
    assert len(changed) == 1 and re.match(rf"\s*({key}: |\w+: {{.*\b{key}: )", changed[0][1]), changed


def test_dvc_set_param_to_the_same_value_leaves_params_yaml_byte_identical(tmp_path):
    """params.yaml is written the way DVC's writer writes it (block lists; no comment or blank line after a list,
    where a rewrite would drop it), so a rewrite that changes nothing changes no byte."""
    from conftest import ROOT
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    copy.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(str(copy), [f"report.title='{yaml.safe_load(copy.read_text())['report']['title']}'"])
    assert copy.read_text() == (ROOT / "params.yaml").read_text()


def test_each_preset_has_its_own_targets_and_stage(raw):
    sm = cfg.parse(raw).smoothness
    assert tuple(sm.presets) == ("as_reported", "corrected", "as_run") and sm.lead == "as_run"
    assert sm.ordered == ("as_run", "as_reported", "corrected") and sm.original == "as_run"  # the lead first
    assert sm.every_layer("as_reported") == sm.every_layer("corrected") == tuple(sm.targets)
    # every layer under as_run: the nine networks the original analysed and the training seeds of ResNet12 and
    # Plain12; every other target has fc1 alone
    analysed = {"resnet12", "plain12", "resnet12_epoch5", "plain12_epoch5", "resnet12_tanh", "plain12_tanh",
                "resnet10", "plain6", "resnet12_overfit"}
    seeds = {f"{net}_seed{s}" for net in ("resnet12", "plain12") for s in range(1, 5)}
    assert set(sm.every_layer("as_run")) == analysed | seeds
    assert sm.estimator("as_run").max_features == "all" and sm.estimator("as_reported").max_features == "sqrt"
    assert [layout.SMOOTHNESS.stage(p, "plain12") for p in sm.presets] == [
        "smoothness@as_reported-plain12", "smoothness@corrected-plain12", "smoothness@as_run-plain12"]
    assert [layout.SMOOTHNESS_INPUT.stage(p) for p in sm.presets] == [
        "smoothness_input@as_reported", "smoothness_input@corrected", "smoothness_input@as_run"]
    lead = cfg.parse({**raw, "smoothness": {**raw["smoothness"], "lead": "corrected"}}).smoothness
    assert lead.ordered == ("corrected", "as_reported", "as_run")  # the lead first: a view, same set


@pytest.mark.parametrize("change, message", [
    (lambda sm: {"presets": {}}, "smoothness.presets' Dictionary should have at least 1 item"),
    (lambda sm: {"original": "nope"}, "smoothness.original is 'nope', which is not in smoothness.presets"),
    (lambda sm: {"targets": {**sm["targets"], "plain6": {"run": "plain6", "weights": "final", "layers": "x"}}},
     "smoothness.targets.plain6.layers"),
    (lambda sm: {"presets": {k: v for k, v in sm["presets"].items() if k != "as_run"}, "lead": "as_reported"},
     "smoothness.original is 'as_run', which is not in smoothness.presets"),
])
def test_every_preset_setting_works_or_is_refused_in_one_line(raw, change, message):
    """A preset is a name, its estimator fields and its targets: a bad one is refused in one line."""
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse({**raw, "smoothness": {**raw["smoothness"], **change(raw["smoothness"])}})


def test_a_refused_value_is_quoted_once(raw):
    raw["smoothness"]["presets"]["as_reported"]["max_features"] = "log2"
    with pytest.raises(cfg.ConfigError) as err:
        cfg.parse(raw)
    assert "max_features must be 'all', 'sqrt' or a fraction" in str(err.value)
    assert str(err.value).count("'log2'") == 1, err.value


def test_a_preset_is_data(raw):
    """A new preset is a new key: its estimator from its fields, every target by default."""
    raw["smoothness"]["presets"]["fewer_trees"] = {**raw["smoothness"]["presets"]["corrected"], "n_trees": 5}
    sm = cfg.parse(raw).smoothness
    assert sm.estimator("fewer_trees") == sm.estimator("corrected").model_copy(update={"n_trees": 5})
    assert sm.every_layer("fewer_trees") == tuple(sm.targets) and sm.ordered[-1] == "fewer_trees"
    assert "plain6_noavgpool" not in sm.every_layer("as_run") and "plain6_noavgpool" in sm.every_layer("corrected")


def test_a_targets_layers_override_its_presets(raw):
    """Coverage is per target: as_run takes the last layer unless a target asks for all; `last` narrows every
    preset on one target the same way, and nothing else moves."""
    targets = raw["smoothness"]["targets"]
    before = cfg.parse(raw).smoothness
    targets["plain6_noavgpool"]["layers"] = "all"
    targets["resnet12"]["layers"] = "last"
    after = cfg.parse(raw).smoothness
    assert set(after.every_layer("as_run")) == set(before.every_layer("as_run")) - {"resnet12"} | {"plain6_noavgpool"}
    assert set(after.every_layer("corrected")) == set(before.every_layer("corrected")) - {"resnet12"}
    assert before.every_layer("corrected") == tuple(targets)
    raw["mislabel"]["presets"] = ["nope"]
    with pytest.raises(cfg.ConfigError, match="mislabel.presets\\[\\] is 'nope', which is not in smoothness.presets"):
        cfg.parse(raw)


def test_run_and_network_defaults_are_the_originals(raw):
    p = cfg.parse(raw)
    assert (p.runs["resnet12"].stopping, p.runs["resnet12"].max_epochs) == ("as_coded", 100)
    assert p.runs["resnet12_overfit"].stopping == "none"
    assert (p.networks["resnet12"].activation, p.networks["resnet12"].lr) == ("relu", 1.0e-3)
    assert p.networks["resnet10_noavgpool"].lr == 5.0e-4 and p.networks["plain12_tanh"].activation == "tanh"


def test_seed_groups_are_the_runs_that_differ_only_by_seed(raw):
    groups = cfg.parse(raw).seed_groups
    assert groups["resnet12"] == ("resnet12", "resnet12_seed1", "resnet12_seed2", "resnet12_seed3", "resnet12_seed4")
    overfit = tuple(f"resnet12_overfit_seed{s}" for s in range(101, 105))
    assert groups["resnet12_overfit"] == ("resnet12_overfit", *overfit)
    assert all(len(runs) == 5 for runs in groups.values()) and len(groups) == 11  # every network: five seeds
    raw["runs"]["plain12_seed1"]["stopping"] = "patience"  # another protocol: no longer the same network's seed
    raw["runs"]["resnet12_seed2"]["seed"] = 9  # ordered by seed, whatever the order in params.yaml
    groups = cfg.parse(raw).seed_groups
    assert groups["resnet12"][-1] == "resnet12_seed2" and "plain12_seed1" not in groups["plain12"]


def test_default_titles_follow_the_original_reports_names():
    assert [cfg.default_title(n) for n in ("resnet12", "plain6_noavgpool", "resnet9_tanh", "vgg11", "resnet_x")] == [
        "ResNet12", "Plain6 no AvPool", "ResNet9 with tanh", "vgg11", "resnet_x"]


@pytest.mark.parametrize("runs, message", [(["plain6"], None), (["resnet12", "plain12"], "another run of"),
                                           (["resnet12", "resnet12_seed1", "resnet12_seed1"], "named once"),
                                           (["nosuch"], "mislabel.runs\\[0\\] is 'nosuch'"), ([], "at least 1")])
def test_mislabel_runs_are_one_network_and_its_seeds(raw, runs, message):
    raw["mislabel"]["runs"] = runs
    if message is None:
        assert cfg.parse(raw).mislabel.run == "plain6"
    else:
        with pytest.raises(cfg.ConfigError, match=message):
            cfg.parse(raw)


def test_suggest_pairs_follow_derived_in_order(raw):
    assert cfg.parse(raw).suggest.pairs["resnet12"] == ("resnet10", "resnet10_noavgpool")
    raw["suggest"]["derived"]["plain6"] = "nosuch"
    with pytest.raises(cfg.ConfigError, match="suggest.derived.plain6 is 'nosuch'"):
        cfg.parse(raw)
