"""The wavelet-forest estimator against answers known by construction."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from replication.estimator import wavelets as W


def clusters(n=1500, d=12, sep=1.0, seed=0, classes=10):
    """Gaussian class clusters; `sep` scales the distance between class means."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, d))
    x = rng.normal(size=(n, d)) + sep * centres[y]
    return x.astype(np.float32), y


SMALL = W.estimator("as_run", dict(n_trees=3, m_stop=400))


@pytest.fixture(scope="module")
def dec():
    x, y = clusters(600, 6, sep=1.5)
    return W.decompose(x, y, SMALL), W.scale_features(x)


def test_telescoping_each_tree_sums_to_its_prediction(dec):
    d, x = dec
    for j, tree in enumerate(d.forest.estimators_):
        path = tree.decision_path(x)
        summed = path @ d.wavelets[j].coef
        np.testing.assert_allclose(summed, tree.predict(x), atol=1e-12)


def reference_curve(d, x, ms):
    """Re-predict from scratch for every M with the sparse path matrix (slow, obviously right)."""
    paths, offsets = d.forest.decision_path(x)
    coef = np.concatenate([w.coef for w in d.wavelets]) / len(d.wavelets)
    out = []
    for m in ms:
        chosen = np.zeros(len(coef))
        chosen[d.order[:m]] = 1.0
        pred = paths @ (coef * chosen[:, None])
        out.append(np.mean(np.sum((d.y - pred) ** 2, axis=1)))
    return np.asarray(out)


def test_incremental_curve_equals_reprediction(dec):
    d, x = dec
    ms = [1, 2, 3, 12, 57, 200, len(d.order)]
    fast = W.error_curve(d.y, d.leaves, d.wavelets, d.order, d.tree_of, d.node_of, ms)
    np.testing.assert_allclose(fast, reference_curve(d, x, ms), rtol=1e-10, atol=1e-14)


def test_all_wavelets_give_the_forest_training_error(dec):
    d, x = dec
    e = W.error_curve(d.y, d.leaves, d.wavelets, d.order, d.tree_of, d.node_of, [len(d.order)])
    expected = np.mean(np.sum((d.y - d.forest.predict(x)) ** 2, axis=1))
    assert e[0] == pytest.approx(expected, rel=1e-10, abs=1e-14)


def test_root_bug_changes_only_root_children(dec):
    d, _ = dec
    tree = d.forest.estimators_[0].tree_
    buggy = W.tree_wavelets(tree, SMALL)
    fixed = W.tree_wavelets(tree, SMALL.model_copy(update=dict(root_bug=False)))
    children = {int(tree.children_left[0]), int(tree.children_right[0])}
    differ = set(np.nonzero(~np.isclose(buggy.log_norm, fixed.log_norm))[0].tolist())
    assert differ == children
    value = tree.value[:, :, 0]
    logvol = W.log_volumes(tree)
    for c in children:
        want = np.log(np.linalg.norm(value[c] - 2 * value[0])) + 0.5 * logvol[c]
        assert buggy.log_norm[c] == pytest.approx(want)
        assert fixed.log_norm[c] == pytest.approx(np.log(np.linalg.norm(value[c] - value[0])) + 0.5 * logvol[c])
    np.testing.assert_array_equal(buggy.coef, fixed.coef)  # predictions are unaffected


def test_log_volumes_equal_explicit_boxes(dec):
    d, _ = dec
    tree = d.forest.estimators_[1].tree_
    dim = d.forest.n_features_in_
    boxes = np.zeros((tree.node_count, dim, 2))
    boxes[:, :, 1] = 1.0
    for node in range(tree.node_count):  # preorder: parents come first
        left, right = tree.children_left[node], tree.children_right[node]
        if left == -1:
            continue
        f, t = tree.feature[node], tree.threshold[node]
        boxes[left] = boxes[node]
        boxes[left, f, 1] = min(boxes[node, f, 1], t)
        boxes[right] = boxes[node]
        boxes[right, f, 0] = max(boxes[node, f, 0], t)
    explicit = np.prod(boxes[:, :, 1] - boxes[:, :, 0], axis=1)
    np.testing.assert_allclose(np.exp(W.log_volumes(tree)), explicit, rtol=1e-9)


def test_alpha_rises_with_separability():
    est = W.estimator("as_reported", dict(n_trees=4))
    alphas = [W.besov_alpha(*clusters(1500, 10, sep=s, seed=1), est).alpha for s in (0.2, 1.0, 3.0)]
    assert alphas[0] < alphas[1] < alphas[2]


def test_alpha_falls_as_labels_are_shuffled():
    est = W.estimator("as_run", dict(n_trees=4))
    x, y = clusters(1500, 6, sep=2.5, seed=2)
    rng = np.random.default_rng(0)
    alphas = []
    for p in (0.0, 0.5, 1.0):
        yy = y.copy()
        rows = rng.permutation(len(y))[: int(p * len(y))]
        yy[rows] = yy[rng.permutation(rows)]
        alphas.append(W.besov_alpha(x, yy, est).alpha)
    assert alphas[0] > alphas[1] > alphas[2]


def test_same_seed_same_alpha_and_n_jobs_does_not_matter():
    x, y = clusters(800, 8)
    est = W.estimator("as_reported", dict(n_trees=4))
    a = W.besov_alpha(x, y, est, n_jobs=1)
    b = W.besov_alpha(x, y, est, n_jobs=2)
    assert a.alpha == b.alpha and a.error == b.error
    c = W.besov_alpha(x, y, est.model_copy(update=dict(seed=22)))
    assert c.alpha != a.alpha


def test_min_max_scaling_makes_alpha_invariant_to_affine_rescaling():
    x, y = clusters(600, 5)
    est = W.estimator("as_run", dict(n_trees=2))
    scaled = x * np.array([3, 0.5, 1, 10, 2], dtype=np.float32) + 7
    assert W.besov_alpha(x, y, est).alpha == pytest.approx(W.besov_alpha(scaled, y, est).alpha, rel=1e-9)


def test_constant_features_are_zero_and_harmless():
    x, y = clusters(500, 4)
    x = np.hstack([x, np.full((500, 2), 3.0, dtype=np.float32)])
    scaled = W.scale_features(x)
    assert np.all(scaled[:, -2:] == 0) and scaled.max() == 1.0 and scaled.min() == 0.0
    assert np.isfinite(W.besov_alpha(x, y, SMALL.model_copy(update=dict(n_trees=2))).alpha)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_rejected(bad):
    x, y = clusters(100, 4)
    x[7, 2] = bad
    with pytest.raises(W.EstimatorError, match="sample 7, feature 2"):
        W.besov_alpha(x, y, SMALL)


def test_label_count_mismatch():
    x, y = clusters(100, 4)
    with pytest.raises(W.EstimatorError, match="99 labels for 100 samples"):
        W.besov_alpha(x, y[:99], SMALL)


def test_presets_and_overrides():
    est = W.estimator("corrected", {"n_trees": 3})
    assert est.n_trees == 3 and not est.root_bug and not est.drop_last_label and est.error == "l2"
    with pytest.raises(W.EstimatorError, match="unknown estimator field 'trees'"):
        W.estimator("as_run", {"trees": 3})
    with pytest.raises(W.EstimatorError, match="n_trees.*valid integer"):
        W.estimator("as_run", {"n_trees": "3"})
    with pytest.raises(W.EstimatorError, match="unknown estimator preset"):
        W.estimator("best", {})


def test_grid_and_abscissa_as_originally_coded():
    x, y = clusters(2000, 6)
    r = W.besov_alpha(x, y, W.estimator("as_run", {"n_trees": 2}))
    assert r.m[:3] == [2, 12, 22] and r.x[:3] == [1, 11, 21] and r.m[-1] == 992 and len(r.m) == 100
    assert np.allclose(np.asarray(r.mse) * 9, r.error)  # 9 label columns: class 9 dropped


def test_l2_error_halves_alpha():
    x, y = clusters(800, 6)
    sq = W.besov_alpha(x, y, W.estimator("as_run", {"n_trees": 2}))
    l2 = W.besov_alpha(x, y, W.estimator("as_run", {"n_trees": 2, "error": "l2"}))
    assert l2.alpha == pytest.approx(sq.alpha / 2)


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_cli_json(tmp_path):
    x, y = clusters(300, 4)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = subprocess.run(
        [sys.executable, "-m", "replication.estimator.wavelets", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
         "--preset", "as_run", "--set", "n_trees=2", "--json"],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(out.stdout)
    assert result["alpha"] > 0 and len(result["error"]) == len(result["m"])
    bad = subprocess.run(
        [sys.executable, "-m", "replication.estimator.wavelets", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
         "--set", "depth=3"], capture_output=True, text=True,
    )
    assert bad.returncode == 1 and "unknown estimator field 'depth'" in bad.stderr


def test_forest_processes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("REPLICATION_JOBS", "3")
    assert W.default_jobs() == 3
    monkeypatch.delenv("REPLICATION_JOBS")
    assert W.default_jobs() >= 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("REPLICATION_JOBS", bad)
        with pytest.raises(W.EstimatorError, match=r"\$REPLICATION_JOBS is .*at least 1"):
            W.default_jobs()
