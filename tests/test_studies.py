"""Mislabeling, overfitting comparison and smoothness-guided suggestions."""

from __future__ import annotations

import numpy as np
import pytest

from replication.analysis import claims
from replication.analysis.results import alpha_drops
from replication.estimator import wavelets
from replication.networks import dataset
from replication.stages import mislabel


def test_shuffle_fraction_and_determinism():
    labels = np.arange(10_000) % 10
    same = dataset.shuffle_labels(labels, 0.5, seed=3)
    np.testing.assert_array_equal(same, dataset.shuffle_labels(labels, 0.5, seed=3))
    assert not np.array_equal(same, dataset.shuffle_labels(labels, 0.5, seed=4))
    assert np.bincount(same).tolist() == np.bincount(labels).tolist()  # a permutation of labels
    for rate in (0.0, 0.25, 1.0):
        changed = np.mean(dataset.shuffle_labels(labels, rate, seed=0) != labels)
        assert changed == pytest.approx(0.9 * rate, abs=0.02)  # ~10% land on their own class
    with pytest.raises(ValueError, match="outside"):
        dataset.shuffle_labels(labels, 1.5, seed=0)


def test_alpha_falls_from_clean_to_random_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    rep = (np.eye(10)[y] * 3 + rng.normal(size=(2000, 10))).astype(np.float32)  # logit-like
    est = wavelets.estimator("as_run", {"n_trees": 3})
    clean = mislabel.alpha_under_shuffles(rep, y, 0.0, est, seeds=(0, 1))
    noisy = mislabel.alpha_under_shuffles(rep, y, 1.0, est, seeds=(0, 1))
    assert clean["alpha_mean"] > 2 * noisy["alpha_mean"]
    assert clean["changed_mean"] == 0.0 and noisy["changed_mean"] > 0.8
    assert len(clean["seeds"]) == 2 and clean["alpha_std"] >= 0


def test_alpha_drops_on_hand_made_lists():
    layers = [("input", 0.05), ("conv1", 0.06), ("conv2", 0.04), ("conv3", 0.045), ("avpool", 0.03), ("fc1", 0.1)]
    drops = alpha_drops(layers)
    assert [d["layer"] for d in drops] == ["conv2", "avpool"]
    assert drops[0]["previous"] == "conv1" and drops[0]["drop"] == pytest.approx(0.02)
    assert drops[1]["relative_drop"] == pytest.approx(0.015 / 0.045)
    assert [d["layer"] for d in alpha_drops(layers, min_drop=0.018)] == ["conv2"]
    assert alpha_drops([("a", 1.0), ("b", 2.0)]) == []
    assert alpha_drops([]) == []


def test_overfit_compare():
    rows = claims.layer_differences([{"layer": "conv1", "alpha": 0.03}, {"layer": "fc1", "alpha": 0.2}],
                                    [{"layer": "conv1", "alpha": 0.04}, {"layer": "fc1", "alpha": 0.1}])
    assert rows[0]["difference"] == pytest.approx(-0.01) and rows[1]["difference"] == pytest.approx(0.1)
    assert claims.conv_lower(rows) == {"conv_layers_lower": 1, "conv_layers": 1}


def test_retrain_shuffles_training_labels_only():
    import torch

    y = torch.arange(1000) % 10
    ds = dataset.Dataset(torch.zeros(1000, 3, 2, 2), y, torch.arange(800), torch.arange(800, 1000),
                         torch.zeros(50, 3, 2, 2), torch.arange(50) % 10)
    noisy_ds, noisy = dataset.with_noisy_labels(ds, 0.5, seed=0)
    np.testing.assert_array_equal(noisy_ds.y_train_all.numpy(), noisy)
    np.testing.assert_array_equal(noisy, dataset.shuffle_labels(y.numpy(), 0.5, 0))  # the mislabel study's shuffle
    assert 0.4 < np.mean(noisy != y.numpy()) < 0.5
    assert torch.equal(noisy_ds.y_test, ds.y_test) and torch.equal(ds.y_train_all, y)  # test set and input untouched
