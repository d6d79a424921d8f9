"""Malformed input, fuzzed: the params loader and the estimator's command line end in a one-line
error or a valid result, never a traceback or a hang."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replication.core.errors import UserError
from replication.core.files import load_yaml
from replication.estimator import wavelets
from replication.estimator.settings import Estimator, EstimatorError, estimator
from replication.report import settings as cfg

# Names that are paths, or nearly: every one must be refused where a name becomes part of a path.
PATHLIKE = st.sampled_from(["../x", "../../../etc", "/abs", "a/b", "..", ".", ".hidden", "Run", "a\nb", "x" * 70,
                            "resnet12/../../x", "a\\b", "~", "-lead", "plain6 "])
# Values of every YAML kind, including the ones that used to slip through (negatives, NaN, infinity, huge ints).
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**13, 10**13), st.integers(-10**40, 10**40),
    st.sampled_from([2**31, 2**32, 2**63, 2**64, -2**63 - 1]), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), PATHLIKE, st.sampled_from(["5e-4", "all", "sqrt", "relu", "as_run", "none", "-1"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                             max_size=3), max_leaves=6)


def _paths(tree, prefix=()):
    """Every path to a value in a nested dict/list."""
    yield prefix
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _paths(v, (*prefix, i))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_params_loader_never_crashes(raw_params, data):
    raw = copy.deepcopy(raw_params)
    paths = [p for p in _paths(raw) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        try:
            parent = raw
            for key in path[:-1]:
                parent = parent[key]
            if action == "replace":
                parent[path[-1]] = data.draw(VALUES)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[data.draw(st.text(max_size=6) | PATHLIKE)] = data.draw(VALUES)
            if action == "replace" and isinstance(parent, dict) and data.draw(st.booleans()):
                parent[data.draw(PATHLIKE)] = parent.pop(path[-1])  # the same value under a path-like key
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or retyped this path
    try:
        params = cfg.parse(raw)
    except cfg.ConfigError as err:
        message = str(err)
        assert message.startswith("params.yaml: ") and "\n" not in message
        return
    assert isinstance(params, cfg.Params)


# YAML documents built from anchors, aliases, nesting and duplicate keys: the loader ends in a value or a
# one-line error, quickly (the node count is bounded before anything expands).
YAML_ATOMS = st.sampled_from(["1", "-2", ".nan", ".inf", "1e999", "9" * 5000, "x", "'a: b'", "~", "[]", "{}"])


@st.composite
def yaml_documents(draw) -> str:
    anchors: list[str] = []
    lines = []
    for i in range(draw(st.integers(1, 8))):
        width = draw(st.integers(1, 12))
        items = [f"*a{draw(st.sampled_from(anchors))}" if anchors and draw(st.booleans()) else draw(YAML_ATOMS)
                 for _ in range(width)]
        key = draw(st.sampled_from([f"k{i}", "dup", "<<"]))
        body = "[" + ", ".join(items) + "]" if key != "<<" else "{z: 1}"
        lines.append(f"{key}: &a{i} {body}")
        anchors.append(str(i))
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(max_examples=150, deadline=2000)
@given(text=yaml_documents())
def test_yaml_loader_never_crashes_or_explodes(text):
    try:
        load_yaml(text, "p.yaml")
    except UserError as err:
        assert str(err).startswith("p.yaml: ") and "\n" not in str(err) and len(str(err)) < 400


@settings(max_examples=200, deadline=None)
@given(overrides=st.dictionaries(st.sampled_from([*Estimator.model_fields, "trees", "alpha"]), SCALARS, max_size=4))
@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_estimator_settings_never_crash(overrides):
    try:
        est = estimator("as_reported", overrides)
    except EstimatorError as err:
        assert "\n" not in str(err)
        return
    assert est.n_trees >= 1 and est.m_step >= 1 and est.m_start + est.x_offset >= 1


ARRAYS = st.one_of(
    st.builds(lambda n, d, dtype: np.zeros((n, d), dtype=dtype), st.integers(0, 30), st.integers(0, 4),
              st.sampled_from([np.float32, np.int64, np.bool_, np.complex64])),
    st.builds(lambda n: np.arange(n), st.integers(0, 30)),
    st.builds(lambda shape: np.ones(shape), st.lists(st.integers(0, 4), max_size=3).map(tuple)),
    st.just(np.array(["a", "b"])),
    st.builds(lambda v, n: np.full(n, v), st.sampled_from([0, 1, 10**9, -1, 2.5, np.nan]), st.integers(0, 30)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(features=ARRAYS, labels=ARRAYS, raw_bytes=st.sampled_from([None, b"", b"\x93NUMPY", b"garbage" * 10]))
@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_estimator_cli_never_crashes(tmp_path, capsys, features, labels, raw_bytes):
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, features)
    np.save(y, labels)
    if raw_bytes is not None:
        y.write_bytes(raw_bytes)
    code = wavelets.main([str(x), str(y), "--set", "n_trees=2", "--set", "m_stop=50", "--json"])
    err = capsys.readouterr().err
    assert code in (0, 1)
    if code == 1:
        assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("labels, message", [
    (np.array([], dtype=np.int64), "no samples"),
    (np.full(20, 10**9), "class indices 0..K-1"),
    (np.zeros(20, dtype=np.int64), "single class"),
    (np.zeros((20, 2), dtype=np.int64), "1-D array of class indices"),
])
def test_estimator_label_errors(labels, message):
    features = np.random.default_rng(0).normal(size=(len(labels) if labels.ndim == 1 else 20, 3))
    with pytest.raises(EstimatorError, match=message):
        wavelets.besov_alpha(features, labels, estimator("as_run", {"n_trees": 2}))


def test_huge_grid_does_not_hang():
    """m_stop = 2**31 - 1 (the largest allowed) used to build a 2-billion-entry grid before capping it at the
    wavelet count."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    result = wavelets.besov_alpha(np.eye(3)[y] + rng.normal(size=(200, 3)), y,
                                  estimator("as_run", {"n_trees": 2, "m_stop": 2**31 - 1}))
    assert result.m[-1] <= result.n_wavelets


@pytest.mark.parametrize("content, message", [(b"", "not a readable .npy"), (b"PK\x03\x04", "not a readable .npy")])
def test_estimator_cli_bad_files(tmp_path, capsys, content, message):
    (tmp_path / "x.npy").write_bytes(content)
    np.save(tmp_path / "y.npy", np.arange(4))
    assert wavelets.main([str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]) == 1
    err = capsys.readouterr().err
    assert message in err and "x.npy" in err and err.count("\n") == 1
