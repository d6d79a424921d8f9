"""The estimator's forests, grown node for node as the pinned scikit-learn grows them, several times faster.

The estimator fits a squared-error regression forest on one-hot labels with integer (bootstrap) sample
weights. Every sum scikit-learn's criterion forms is then an integer held exactly in a double, so a split's
score does not depend on the order in which samples are visited: the work sklearn repeats at every node
(gathering and sorting each feature's values, adding nine or ten label columns per sample) can be replaced
by sorting every feature once, keeping each node's samples in that order by a stable partition, and
counting weights per class. What cannot change is the order in which features are tried (ties between
features go to the first one drawn) and every rule that decides a node: this module draws features with
sklearn's own xorshift stream and Fisher-Yates walk, keeps its constant-feature bookkeeping, and computes
thresholds, impurities, values and stopping rules with the same floating-point operations. docs/estimator.md
lists what must match and why; tests/test_exact_forest.py compares every tree array with sklearn's.

The result is a real `RandomForestRegressor` holding sklearn `Tree` objects, so `apply`, `predict` and
`decision_path` are sklearn's own. `$REPLICATION_FOREST=sklearn` forces sklearn's builder (the reference);
inputs this builder does not cover (labels that are not one-hot rows, weights or features it cannot hold)
fall back to it. Either way the trees, hence the alphas, are the same bytes.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor
from sklearn.tree._tree import Tree

from replication.estimator.exact_kernels import SMALL, grow, in_bag, keys_to_entries, sort_keys
from replication.estimator.settings import EstimatorError

FOREST_VARIABLE = "REPLICATION_FOREST"
ENGINES = ("auto", "exact", "sklearn")
RAND_R_MAX = 0x7FFFFFFF  # sklearn's bound for its xorshift generator (tree/_utils)
TREE_SEED_BOUND = np.iinfo(np.int32).max  # sklearn draws each tree's random_state below this
NODE_DTYPE = np.dtype({
    "names": ["left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
              "weighted_n_node_samples", "missing_go_to_left"],
    "formats": [np.intp, np.intp, np.intp, np.float64, np.float64, np.intp, np.float64, np.uint8],
})


def engine() -> str:
    """The forest builder asked for by $REPLICATION_FOREST: 'auto' (the default: this builder where it is the
    faster, forests that try every feature at each split), 'exact' (this builder wherever it applies) or
    'sklearn' (the reference). Not a setting of the study: all give the same trees, so changing it reruns
    nothing."""
    value = os.environ.get(FOREST_VARIABLE, "auto").strip() or "auto"
    if value not in ENGINES:
        raise EstimatorError(f"${FOREST_VARIABLE} is {value[:40]!r}; set it to 'auto' (the default), 'exact' or "
                             "'sklearn'")
    return value


def applies(x: np.ndarray, y: np.ndarray, max_features: str | float | None) -> bool:
    """Whether a forest (sklearn's max_features argument) on x, y is grown here rather than by sklearn.

    Under 'auto', only forests that try all features at each split: with sqrt(F) of them sklearn sorts 64 of
    4,096 features per node while this builder keeps all 4,096 partitioned, which costs more than it saves."""
    mode = engine()
    if mode == "sklearn" or (mode == "auto" and max_features is not None):
        return False
    return unsupported(x, y) is None


def label_codes(y: np.ndarray) -> np.ndarray | None:
    """Each row's class (0..L-1, or L for an all-zero row) when y is one-hot rows of 0.0/1.0, else None."""
    if y.ndim != 2 or y.shape[1] < 1 or y.shape[1] > 127 or not np.isin(y, (0.0, 1.0)).all():
        return None
    ones = y.sum(axis=1)
    if (ones > 1).any():
        return None
    return np.where(ones == 1, np.argmax(y, axis=1), y.shape[1]).astype(np.int8)


def unsupported(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why this builder cannot grow these forests node-identically (None: it can)."""
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[0] > 2**26 or x.shape[1] < 1:  # weights squared stay exact
        return f"features of shape {x.shape}"
    if label_codes(y) is None:
        return "targets are not one-hot rows"
    if not np.isfinite(x).all():
        return "features with NaN or infinite values"
    return None


# --------------------------------------------------------------------------- the forest


def presort(x: np.ndarray, n_jobs: int = 1) -> np.ndarray:
    """Every feature's rows in ascending order of value, as F x N entries (the value's float32 bits above the row
    id; ties in row order), in n_jobs threads: 64-bit keys sort fast (SIMD), and numpy's sort releases the GIL."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    keys = np.empty((bits.shape[1], bits.shape[0]), dtype=np.uint64)
    step = 64

    def chunk(f0: int) -> None:
        f1 = min(f0 + step, len(keys))
        sort_keys(bits, f0, f1, keys)
        keys[f0:f1].sort(axis=1)
        keys_to_entries(keys, f0, f1)

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        list(pool.map(chunk, range(0, len(keys), step)))
    return keys.view(np.int64)


def tree_seeds(seed: int, n_trees: int) -> list[int]:
    """Each tree's random_state, drawn as sklearn's forest draws them from its own."""
    state = np.random.RandomState(seed)
    return [int(state.randint(TREE_SEED_BOUND)) for _ in range(n_trees)]


def max_features_count(max_features: str | float | None, n_features: int) -> int:
    """sklearn's max_features_ for the forest's max_features argument."""
    if max_features is None:
        return n_features
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    return max(1, int(max_features * n_features))


def grow_tree(entries: np.ndarray, codes: np.ndarray, n_out: int, forest: RandomForestRegressor, tree_seed: int,
              small: int = SMALL, buffers: tuple[np.ndarray, np.ndarray] | None = None) -> DecisionTreeRegressor:
    """One tree of `forest` (its settings, random_state tree_seed) from presorted entries, node-identical to
    sklearn's. A node of at most `small` samples grows its subtree in a block of its own (a speed setting: the
    tree is the same). buffers: (F x N, F x small) int64 entries to reuse (a new page costs more than a tree's
    arithmetic on it), or None."""
    n_features, n = entries.shape
    rows_buffer, block_buffer = buffers or new_buffers(n_features, n, small)
    if forest.bootstrap:  # sklearn's bootstrap: n draws with replacement, passed to the tree as weights
        weight = np.bincount(np.random.RandomState(tree_seed).randint(0, n, n), minlength=n).astype(np.int32)
    else:
        weight = np.ones(n, dtype=np.int32)
    n_in = int(np.count_nonzero(weight))
    rows = rows_buffer[: n_features * n_in].reshape(n_features, n_in)
    in_bag(entries, weight, rows)
    samples = np.flatnonzero(weight > 0).astype(np.int32)
    splitter_seed = np.random.RandomState(tree_seed).randint(0, RAND_R_MAX)  # sklearn's Splitter.init
    max_depth = np.iinfo(np.int32).max if forest.max_depth is None else forest.max_depth
    data = (codes, weight, codes.astype(np.int32) | (weight << 8), n_out,  # cw: class and weight in one lookup
            max_features_count(forest.max_features, n_features), max_depth, float(n), small)
    ws = (np.arange(n_features), np.zeros(n_features, np.int64), np.zeros(n_out + 1, np.int64),
          np.zeros(n_out + 1), np.zeros(n_out + 1), np.zeros(2, np.int64), np.zeros(3), np.zeros(n, np.int64),
          np.zeros(n_features, np.bool_), np.empty(n_in, np.int64), np.empty(n_in, np.int32),
          np.full(1, np.uint64(splitter_seed)))
    out = (np.empty((2 * n_in, 5), np.int64), np.empty((2 * n_in, 3)), np.empty((2 * n_in, n_out)))
    count, depth = grow(rows, samples, data, ws, out, block_buffer)
    nodes_i, nodes_f, value = (a[:count] for a in out)
    return _as_sklearn(forest, tree_seed, n_features, n_out, nodes_i, nodes_f, value, depth)


def new_buffers(n_features: int, n: int, small: int = SMALL) -> tuple[np.ndarray, np.ndarray]:
    """A tree's working entries (F x N) and its block of a small node's subtree (F x small), to reuse."""
    return np.empty(n_features * n, np.int64), np.empty(n_features * min(small, n), np.int64)


def _as_sklearn(forest: RandomForestRegressor, tree_seed: int, n_features: int, n_out: int, nodes_i: np.ndarray,
                nodes_f: np.ndarray, value: np.ndarray, depth: int) -> DecisionTreeRegressor:
    """An sklearn tree holding these node arrays, as a forest's fit leaves it."""
    nodes = np.zeros(len(nodes_i), dtype=NODE_DTYPE)
    for j, name in enumerate(("left_child", "right_child", "feature", "n_node_samples", "missing_go_to_left")):
        nodes[name] = nodes_i[:, j]
    for j, name in enumerate(("threshold", "impurity", "weighted_n_node_samples")):
        nodes[name] = nodes_f[:, j]
    tree = Tree(n_features, np.ones(n_out, dtype=np.intp), n_out)
    tree.__setstate__({"max_depth": depth, "node_count": len(nodes), "nodes": nodes,
                       "values": np.ascontiguousarray(value[:, :, None])})
    estimator = forest._make_estimator(append=False, random_state=None)
    estimator.set_params(random_state=tree_seed)
    estimator.n_features_in_, estimator.n_outputs_ = n_features, n_out
    estimator.max_features_ = max_features_count(forest.max_features, n_features)
    estimator.tree_ = tree
    return estimator


def fit(forest: RandomForestRegressor, x: np.ndarray, y: np.ndarray, n_jobs: int = 1,
        on_tree=None, small: int = SMALL) -> RandomForestRegressor:
    """Grow `forest` (an unfitted RandomForestRegressor of the estimator's kind) on x and one-hot y with this
    builder, `n_jobs` trees at a time (threads: the builder releases the GIL); on_tree() after each tree.
    The caller checks `unsupported` first."""
    x = np.ascontiguousarray(x, dtype=np.float32)  # as sklearn converts them before it grows a tree
    y = np.ascontiguousarray(y, dtype=np.float64)
    codes = label_codes(y)
    forest._validate_estimator()
    entries = presort(x, n_jobs)
    seeds = tree_seeds(forest.random_state, forest.n_estimators)

    spare: queue.SimpleQueue = queue.SimpleQueue()  # one set of buffers per thread, reused tree after tree
    for _ in range(max(1, min(n_jobs, len(seeds)))):
        spare.put(new_buffers(*entries.shape, small))

    def one(tree_seed: int) -> DecisionTreeRegressor:
        buffers = spare.get()
        try:
            tree = grow_tree(entries, codes, y.shape[1], forest, tree_seed, small, buffers)
        finally:
            spare.put(buffers)
        if on_tree is not None:
            on_tree()
        return tree

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        forest.estimators_ = list(pool.map(one, seeds))
    forest.n_features_in_, forest.n_outputs_ = x.shape[1], y.shape[1]
    forest._n_samples, forest._sample_weight = x.shape[0], None
    forest._n_samples_bootstrap = x.shape[0] if forest.bootstrap else None
    return forest
