"""params.yaml loads into typed objects; bad keys fail with the key's name."""

from __future__ import annotations

import dataclasses

import pytest

from replication import config as cfg


def test_project_params_load():
    params = cfg.load()
    assert params.train.batch_size == 250
    assert params.data.val_size == 10000
    assert params.network("resnet10_noavgpool").lr == pytest.approx(5.0e-4)
    assert isinstance(params.data.mean, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.batch_size = 1


def test_unknown_key(raw):
    raw["train"]["batch_szie"] = 10
    with pytest.raises(cfg.ConfigError, match=r"unknown key 'train.batch_szie'"):
        cfg.parse(raw)


def test_missing_key(raw):
    del raw["data"]["split_seed"]
    with pytest.raises(cfg.ConfigError, match=r"missing key 'data.split_seed' \(int\)"):
        cfg.parse(raw)


def test_float_written_without_dot_is_a_string(raw):
    raw["networks"]["resnet12"]["lr"] = "5e-4"  # what PyYAML makes of `lr: 5e-4`
    with pytest.raises(cfg.ConfigError, match=r"networks.resnet12.lr' must be float, got str '5e-4'.*5.0e-4"):
        cfg.parse(raw)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train", "batch_size", 2.5, "train.batch_size' must be int"),
        ("train", "batch_size", True, "train.batch_size' must be int"),
        ("base", "deterministic", "yes", "base.deterministic' must be bool"),
        ("data", "mean", 0.5, "data.mean' must be tuple"),
        ("base", "device", "tpu", "base.device' is 'tpu'; expected one of auto, cpu, cuda"),
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
        cfg.load().run("nope")


def test_stopping_choice(raw):
    raw["runs"]["plain12"]["stopping"] = "early"
    with pytest.raises(cfg.ConfigError, match="runs.plain12.stopping' is 'early'"):
        cfg.parse(raw)


def test_retrain_is_off_by_default_and_checked(raw):
    assert cfg.parse(raw).mislabel.retrain == ()
    del raw["mislabel"]["retrain"]
    assert cfg.parse(raw).mislabel.retrain == ()  # optional key
    raw["mislabel"]["retrain"] = [0.5, 1.2]
    with pytest.raises(cfg.ConfigError, match=r"mislabel.retrain holds 1.2"):
        cfg.parse(raw)
    raw["mislabel"].update(retrain=[], seeds=[])
    with pytest.raises(cfg.ConfigError, match=r"mislabel.seeds is empty"):
        cfg.parse(raw)
