"""Representations and the per-layer smoothness stage on a tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT

from replication.estimator import layerwise, wavelets
from replication.networks import features, nets
from replication.report import settings as cfg


@pytest.fixture(scope="module")
def model():
    return nets.build("resnet10", cfg.load().network_config("resnet10"), seed=0).eval()


def test_layer_names_start_with_input(model):
    names = features.layer_names(model)
    assert names[0] == "input" and names[-2:] == ["avpool", "fc1"]
    assert "conv5+identity_relu" in names and "conv6_relu" not in names


def test_representations_shapes_and_batching(model):
    images = torch.randn(70, 3, 32, 32)
    full = dict(features.representations(model, images))
    assert full["input"].shape == (70, 3072) and full["input"].dtype == np.float32
    np.testing.assert_array_equal(full["input"], images.flatten(1).numpy())
    assert full["conv2_relu"].shape == (70, 2048) and full["fc1"].shape == (70, 10)
    small = features.representation(model, images, "conv9+identity_relu", batch=16)
    np.testing.assert_allclose(small, full["conv9+identity_relu"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(full["fc1"], model(images).detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_stage_run_gives_an_alpha_per_layer_and_resumes(model):
    rng = np.random.default_rng(0)
    images = torch.randn(300, 3, 32, 32)
    labels = rng.integers(0, 10, 300)
    est = wavelets.estimator("as_reported", {"n_trees": 2, "m_stop": 200})
    seen = []
    rows = layerwise.layer_alphas(model, images, labels, est, on_layer=seen.append, progress=False)
    assert [r["layer"] for r in rows] == features.layer_names(model)
    assert all(np.isfinite(r["alpha"]) and r["alpha"] > 0 for r in rows)
    assert len(seen) == len(rows)
    done = {r["layer"]: r for r in rows[:5]}
    again = layerwise.layer_alphas(model, images, labels, est, done=done, on_layer=seen.append, progress=False)
    assert [r["alpha"] for r in again] == [r["alpha"] for r in rows]
    assert len(seen) == 2 * len(rows) - 5


@pytest.mark.parametrize("argv, message", [
    (["corrected_empirical", "resnet12"], "preset 'corrected_empirical' is not in smoothness.presets \\(as_reported, "
                                          "corrected, as_run\\)"),
    (["as_run", "nope"], "unknown name 'nope' in smoothness.targets; known: .*plain12"),
    (["corrected", "resnet12"], "results/smoothness/corrected/input.json is missing: run "
                                "`dvc repro smoothness_input@corrected` first"),
])
def test_stage_names_what_is_wrong_before_any_work(tmp_path, monkeypatch, argv, message):
    from replication.core.errors import UserError
    from replication.stages import smoothness

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)  # no data, no weights: each error must come first
    with pytest.raises(UserError, match=message):
        smoothness.main(argv)


def test_stage_wants_a_target_or_input():
    from replication.stages import smoothness

    for argv in (["as_reported"], ["as_reported", "resnet12", "--input"]):
        with pytest.raises(SystemExit):
            smoothness.main(argv)
