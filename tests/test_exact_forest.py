"""The exact tree builder grows scikit-learn's trees node for node, and the estimator gives the same alpha with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor

from replication.estimator import exact_forest, wavelets
from replication.estimator.settings import EstimatorError, estimator

ARRAYS = ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
          "weighted_n_node_samples")


def assert_same_trees(reference: RandomForestRegressor, mine: RandomForestRegressor) -> None:
    """Every node array of every tree equal (missing_go_to_left on split nodes; leaves leave it unset)."""
    assert len(reference.estimators_) == len(mine.estimators_)
    for j, (a, b) in enumerate(zip(reference.estimators_, mine.estimators_, strict=True)):
        sa, sb = a.tree_.__getstate__(), b.tree_.__getstate__()
        assert sa["node_count"] == sb["node_count"], f"tree {j}: node count"
        assert sa["max_depth"] == sb["max_depth"], f"tree {j}: depth"
        for name in ARRAYS:
            np.testing.assert_array_equal(sa["nodes"][name], sb["nodes"][name], err_msg=f"tree {j}: {name}")
        split = sa["nodes"]["left_child"] != -1
        left_a, left_b = sa["nodes"]["missing_go_to_left"], sb["nodes"]["missing_go_to_left"]
        np.testing.assert_array_equal(left_a[split], left_b[split], err_msg=f"tree {j}: missing_go_to_left")
        np.testing.assert_array_equal(sa["values"], sb["values"], err_msg=f"tree {j}: value")
        assert a.random_state == b.random_state


def data(rng: np.random.Generator, n: int, d: int, k: int, ties: int, zeros: float, constant: float,
         drop_last: bool) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((n, d))
    if ties:  # few distinct values: ties inside a feature and between features
        x = np.round(x * ties) / ties
    x[rng.random((n, d)) < zeros] = 0.0  # ReLU-like runs of zeros
    x[:, rng.random(d) < constant] = 0.25  # constant features
    y = np.eye(k)[rng.integers(0, k, n)]
    return x.astype(np.float32), y[:, :-1] if drop_last else y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 300), d=st.integers(1, 24), k=st.integers(2, 6),
       ties=st.sampled_from([0, 1, 3, 7]), zeros=st.sampled_from([0.0, 0.5, 0.9]),
       constant=st.sampled_from([0.0, 0.3]), drop_last=st.booleans(),
       max_features=st.sampled_from([None, "sqrt", 0.3, 0.75]), max_depth=st.sampled_from([None, 1, 4]),
       bootstrap=st.booleans(), small=st.sampled_from([2, 40, exact_forest.SMALL]))
@pytest.mark.slow
def test_every_tree_array_equals_sklearns(seed, n, d, k, ties, zeros, constant, drop_last, max_features, max_depth,
                                          bootstrap, small):
    rng = np.random.default_rng(seed)
    x, y = data(rng, n, d, k, ties, zeros, constant, drop_last)
    kw = dict(n_estimators=3, max_features=max_features, max_depth=max_depth, bootstrap=bootstrap,
              random_state=int(rng.integers(0, 2**31 - 1)))
    with np.errstate(all="ignore"):
        reference = RandomForestRegressor(**kw).fit(x, y[:, 0] if y.shape[1] == 1 else y)
    mine = exact_forest.fit(RandomForestRegressor(**kw), x, y, n_jobs=2, small=small)
    assert_same_trees(reference, mine)


def test_relu_layer_with_long_zero_runs_is_grown_identically():
    """Wider and taller than the property cases: the scan that walks down to a leading run of zeros, blocks of
    small nodes, all features per split (the as_run case)."""
    rng = np.random.default_rng(7)
    x, y = data(rng, 3000, 40, 10, 0, 0.6, 0.05, True)
    kw = dict(n_estimators=2, max_features=None, random_state=21)
    assert_same_trees(RandomForestRegressor(**kw).fit(x, y),
                      exact_forest.fit(RandomForestRegressor(**kw), x, y, small=256))


def test_a_fitted_forest_predicts_as_sklearns():
    rng = np.random.default_rng(3)
    x, y = data(rng, 400, 12, 5, 3, 0.3, 0.0, True)
    kw = dict(n_estimators=4, max_features=None, random_state=5)
    reference, mine = RandomForestRegressor(**kw).fit(x, y), exact_forest.fit(RandomForestRegressor(**kw), x, y)
    np.testing.assert_array_equal(reference.apply(x), mine.apply(x))
    np.testing.assert_array_equal(reference.predict(x), mine.predict(x))
    assert (reference.decision_path(x)[0] != mine.decision_path(x)[0]).nnz == 0


@pytest.mark.parametrize("preset", ["as_run", "as_reported", "corrected"])
def test_alpha_is_bit_identical_with_either_builder(monkeypatch, preset):
    rng = np.random.default_rng(11)
    x, labels = rng.random((600, 16)).astype(np.float32), rng.integers(0, 10, 600)
    x[x < 0.4] = 0.0
    est = estimator(preset, {"n_trees": 3})
    results = {}
    for engine in ("exact", "sklearn"):
        monkeypatch.setenv(exact_forest.FOREST_VARIABLE, engine)
        result = wavelets.besov_alpha(x, labels, est)
        results[engine] = {k: v for k, v in dataclasses.asdict(result).items() if k != "seconds"}
    assert results["exact"] == results["sklearn"]


def test_auto_uses_the_exact_builder_only_where_every_feature_is_tried(monkeypatch):
    x, y = np.zeros((4, 3), np.float32), np.eye(2)[[0, 1, 0, 1]]
    monkeypatch.delenv(exact_forest.FOREST_VARIABLE, raising=False)
    assert exact_forest.applies(x, y, None) and not exact_forest.applies(x, y, "sqrt")
    monkeypatch.setenv(exact_forest.FOREST_VARIABLE, "exact")
    assert exact_forest.applies(x, y, "sqrt")
    monkeypatch.setenv(exact_forest.FOREST_VARIABLE, "sklearn")
    assert not exact_forest.applies(x, y, None)


@pytest.mark.parametrize("y, reason", [
    (np.array([[0.5, 0.5], [1.0, 0.0]]), "not one-hot"),  # soft labels
    (np.array([[1.0, 1.0], [0.0, 1.0]]), "not one-hot"),  # two classes in a row
])
def test_targets_it_cannot_count_fall_back_to_sklearn(monkeypatch, y, reason):
    x = np.array([[0.0], [1.0]], np.float32)
    assert reason in exact_forest.unsupported(x, y)
    monkeypatch.setenv(exact_forest.FOREST_VARIABLE, "exact")
    assert not exact_forest.applies(x, y, None)
    est = estimator("as_run", {"n_trees": 2})
    forest = wavelets.fit_forest(x, y, est)  # grown by sklearn: the same trees as sklearn's own fit
    reference = RandomForestRegressor(n_estimators=2, max_features=None, random_state=est.seed).fit(x, y)
    assert_same_trees(reference, forest)


def test_non_finite_features_are_not_grown_here():
    assert "NaN" in exact_forest.unsupported(np.array([[np.nan], [1.0]], np.float32), np.eye(2))


def test_a_bad_builder_name_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv(exact_forest.FOREST_VARIABLE, "fast")
    with pytest.raises(EstimatorError, match=r"\$REPLICATION_FOREST is 'fast'; set it to 'auto'"):
        exact_forest.engine()


def test_tree_seeds_are_sklearns():
    forest = RandomForestRegressor(n_estimators=5, random_state=21).fit(np.arange(8.0)[:, None], np.arange(8.0))
    assert exact_forest.tree_seeds(21, 5) == [t.random_state for t in forest.estimators_]
