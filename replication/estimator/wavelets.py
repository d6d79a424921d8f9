"""Random-forest geometric wavelets and the Besov smoothness index alpha of a representation.

A regression forest is grown on (min-max scaled features -> one-hot labels). Every node of every
tree carries a wavelet psi = C_node - C_parent (the root carries C_root), whose norm is
|psi| * sqrt(mu(node)) with mu the volume of the node's box in the unit cube (or the fraction of
samples it holds). All wavelets of the forest are ranked once by norm; the M-term approximation
sums the top M (each weighted 1/number-of-trees) and alpha is the decay rate of its training error:
|slope| of a least-squares line of log error on log M (smoothness_method.md sections 1 and 3).

The error curve is computed incrementally: residuals start at the labels and each wavelet, in rank
order, is subtracted from the rows of the samples its node holds, a contiguous slice once samples
are sorted by leaf (sklearn numbers nodes in preorder, so a subtree is an id range).

    python -m replication.estimator.wavelets FEATURES.npy LABELS.npy [--preset NAME] [--set key=value] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from tqdm import tqdm

from replication.core.errors import UserError
from replication.estimator import cluster, exact_forest
from replication.estimator.settings import Estimator, EstimatorError, estimator, max_features_arg

__all__ = ["AlphaResult", "Estimator", "EstimatorError", "besov_alpha", "decompose", "estimator"]


@dataclass
class AlphaResult:
    alpha: float  # |slope| of the fitted line
    r2: float  # R^2 of the fit
    intercept: float
    n_samples: int
    n_features: int
    n_wavelets: int  # wavelets in the forest (all nodes of all trees)
    m: list[int] = field(default_factory=list)  # grid of M (number of wavelets used)
    x: list[int] = field(default_factory=list)  # abscissa of the fit (M + x_offset)
    error: list[float] = field(default_factory=list)  # mean squared residual norm at each M
    mse: list[float] = field(default_factory=list)  # error / number of label columns (sklearn MSE)
    tree_nodes: list[int] = field(default_factory=list)
    tree_depths: list[int] = field(default_factory=list)
    zero_norms: int = 0  # wavelets whose norm is 0 (e.g. identical child and parent means)
    seconds: float = 0.0
    estimator: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Everything but the curves."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("m", "x", "error", "mse")}


# --------------------------------------------------------------------------- inputs

MAX_CLASSES = 1000  # one-hot targets are N x K float64: a stray huge label must not allocate exabytes


def check_features(features: np.ndarray) -> None:
    """A 2-D array of real numbers with at least one row and column, or an EstimatorError."""
    if features.ndim != 2 or features.shape[1] == 0:
        raise EstimatorError(f"features must be a 2-D array (samples x features), got shape {features.shape}")
    if features.shape[0] < 2:
        raise EstimatorError(f"no samples to fit: features have shape {features.shape}; alpha needs at least two rows")
    if not (np.issubdtype(features.dtype, np.integer) or np.issubdtype(features.dtype, np.floating)
            or features.dtype == np.bool_):
        raise EstimatorError(f"features must be real numbers, got dtype {features.dtype}")


def scale_features(features: np.ndarray) -> np.ndarray:
    """Per-feature min-max scaling to [0, 1] as float32; constant features become 0."""
    check_features(features)
    out = np.empty(features.shape, dtype=np.float32)
    chunk = max(1, (1 << 26) // max(1, features.shape[0]))  # ~256 MB of float64 at a time
    for start in range(0, features.shape[1], chunk):
        block = np.asarray(features[:, start: start + chunk], dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise EstimatorError(
                f"features contain NaN or infinite values (first at sample {row}, feature "
                f"{start + col}: {block[row, col]}); alpha needs finite activations"
            )
        lo, hi = block.min(axis=0), block.max(axis=0)
        with np.errstate(over="ignore"):
            span = hi - lo
        if not np.isfinite(span).all():
            col = int(np.argmin(np.isfinite(span)))
            raise EstimatorError(f"feature {start + col} spans {lo[col]:.3g} to {hi[col]:.3g}, a range float64 "
                                 "cannot hold; rescale the features")
        scaled = np.divide(block - lo, span, out=np.zeros_like(block), where=span > 0)
        out[:, start: start + chunk] = scaled
    return out


def one_hot(labels: np.ndarray, n_samples: int, drop_last: bool, n_classes: int | None = None) -> np.ndarray:
    """One-hot float64 targets (without the last column when `drop_last`)."""
    labels = np.asarray(labels)
    if n_samples == 0 or labels.size == 0:
        raise EstimatorError("no samples: alpha needs features and labels with at least two rows")
    if labels.ndim != 1:
        raise EstimatorError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if len(labels) != n_samples:
        raise EstimatorError(f"{len(labels)} labels for {n_samples} samples; they must match one to one")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise EstimatorError("labels must be non-negative integers (class indices)")
    k = int(n_classes or labels.max() + 1)
    if labels.max() >= k or k > MAX_CLASSES:
        raise EstimatorError(f"labels must be class indices 0..K-1 with K at most {n_classes or MAX_CLASSES}; "
                             f"the largest is {int(labels.max())}")
    if len(np.unique(labels)) < 2:
        raise EstimatorError("the labels hold a single class; alpha needs at least two classes")
    y = np.eye(k)[labels]
    return y[:, :-1] if drop_last else y


# --------------------------------------------------------------------------- wavelets


@dataclass
class TreeWavelets:
    coef: np.ndarray  # n_nodes x L: C_node - C_parent (root: C_root)
    log_norm: np.ndarray  # n_nodes: log of the wavelet norm (-inf for zero)
    subtree_end: np.ndarray  # n_nodes: node k's subtree is ids [k, subtree_end[k])
    depth: int


def log_volumes(tree) -> np.ndarray:
    """Log of each node's box volume in the unit cube, by a DFS that keeps only path intervals."""
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    out = np.zeros(tree.node_count)
    stack: list[tuple[int, dict[int, tuple[float, float]], float]] = [(0, {}, 0.0)]
    while stack:
        node, bounds, logvol = stack.pop()
        out[node] = logvol
        if left[node] == -1:
            continue
        f, t = int(feature[node]), float(threshold[node])
        lo, hi = bounds.get(f, (0.0, 1.0))
        base = logvol - math.log(hi - lo) if hi > lo else -math.inf
        new_hi, new_lo = min(hi, t), max(lo, t)
        for child, interval in ((left[node], (lo, new_hi)), (right[node], (new_lo, hi))):
            side = interval[1] - interval[0]
            child_bounds = dict(bounds)
            child_bounds[f] = interval
            stack.append((int(child), child_bounds, base + math.log(side) if side > 0 else -math.inf))
    return out


def subtree_ends(tree) -> np.ndarray:
    """End (exclusive) of each node's preorder id range."""
    left, right = tree.children_left, tree.children_right
    end = np.arange(1, tree.node_count + 1)
    for node in range(tree.node_count - 1, -1, -1):  # children have larger ids than parents
        if left[node] != -1:
            end[node] = max(end[left[node]], end[right[node]])
    return end


def tree_wavelets(tree, est: Estimator, node_fraction: np.ndarray | None = None) -> TreeWavelets:
    """Coefficients and norms of one fitted sklearn tree."""
    value = tree.value[:, :, 0].astype(np.float64)
    n = tree.node_count
    parent = np.full(n, -1)
    internal = tree.children_left != -1
    parent[tree.children_left[internal]] = np.nonzero(internal)[0]
    parent[tree.children_right[internal]] = np.nonzero(internal)[0]
    if np.any(tree.children_left[internal] != np.nonzero(internal)[0] + 1):
        raise EstimatorError("tree nodes are not in preorder; this sklearn version is not supported")
    coef = value.copy()
    coef[1:] -= value[parent[1:]]
    ranked = coef.copy()
    if est.root_bug:  # the original subtracted the parent's mean twice for the root's children
        root_children = np.nonzero(parent == 0)[0]
        ranked[root_children] = value[root_children] - 2 * value[0]
    with np.errstate(divide="ignore"):
        log_coef = np.log(np.linalg.norm(ranked, axis=1))
        if est.norm == "volume":
            log_mu = log_volumes(tree)
        else:
            log_mu = np.log(node_fraction)
    return TreeWavelets(coef, log_coef + 0.5 * log_mu, subtree_ends(tree), int(tree.max_depth))


# --------------------------------------------------------------------------- fit and curve


JOBS_VARIABLE = "REPLICATION_JOBS"


def default_jobs() -> int:
    """Forest fitting processes: $REPLICATION_JOBS, else one per available core. Alphas do not depend on
    it (the trees are the same however many are grown at once), so it is not a setting in params.yaml."""
    value = os.environ.get(JOBS_VARIABLE)
    if value is None:
        return max(1, len(os.sched_getaffinity(0)))
    if not (value.isascii() and value.isdigit()) or len(value) > 9 or int(value) < 1:
        raise EstimatorError(f"${JOBS_VARIABLE} is {value[:40]!r}; set it to a number of processes, at least 1")
    return check_jobs(int(value), f"${JOBS_VARIABLE}")


def check_jobs(n_jobs: int, where: str) -> int:
    """`n_jobs` if this machine can run that many forest processes: from 1 to 4 per core it may use (each
    process holds a copy of the features, so more than cores only costs memory)."""
    limit = 4 * max(1, len(os.sched_getaffinity(0)))
    if not 1 <= n_jobs <= limit:
        raise EstimatorError(f"{where} is {n_jobs}; use 1 to {limit} (4 per core this process may use; "
                             "each process holds a copy of the features)")
    return n_jobs


def fit_forest(x: np.ndarray, y: np.ndarray, est: Estimator, n_jobs: int = 1, progress: bool = False,
               desc: str = "forest") -> RandomForestRegressor:
    """Grow the forest with the exact builder where it applies (replication.estimator.exact_forest: sklearn's trees,
    node for node; $REPLICATION_FOREST chooses), else with sklearn a few trees at a time (warm start gives the same
    trees as one fit); on a Dask cluster ($REPLICATION_SCHEDULER), sklearn's, every tree at once, one task
    each, with x and y sent to the workers once."""
    on_cluster = cluster.on_cluster()
    forest = RandomForestRegressor(
        n_estimators=0, criterion="squared_error", max_features=max_features_arg(est.max_features),
        max_depth=est.max_depth or None, bootstrap=est.bootstrap, random_state=est.seed,
        n_jobs=-1 if on_cluster else n_jobs, warm_start=True,
    )
    if not on_cluster and exact_forest.applies(x, y, forest.max_features):
        forest.n_estimators = est.n_trees
        with tqdm(total=est.n_trees, desc=desc, unit="tree", disable=not progress, leave=False) as bar:
            return exact_forest.fit(forest, x, y, n_jobs, on_tree=lambda: bar.update(1))
    step = est.n_trees if on_cluster else max(1, n_jobs)
    if on_cluster:  # the arrays sklearn fits on, as it would convert them, so the ones sent to every worker are used
        x, y = np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float64)
    with (tqdm(total=est.n_trees, desc=desc, unit="tree", disable=not progress, leave=False) as bar,
          cluster.forest_backend(x, y)):
        while len(getattr(forest, "estimators_", [])) < est.n_trees:
            forest.n_estimators = min(est.n_trees, forest.n_estimators + step)
            forest.fit(x, y)
            bar.update(forest.n_estimators - bar.n)
    return forest


def grid(est: Estimator, n_wavelets: int) -> list[int]:
    """M values of the curve (those not beyond the number of wavelets)."""
    return list(range(est.m_start, min(est.m_stop, n_wavelets + 1), est.m_step))


def error_curve(y: np.ndarray, leaves: np.ndarray, wavelets: list[TreeWavelets], order: np.ndarray,
                tree_of: np.ndarray, node_of: np.ndarray, ms: list[int]) -> np.ndarray:
    """Mean squared residual norm after the top-M wavelets, for each M in `ms` (incremental)."""
    n_trees = len(wavelets)
    sorted_rows, sorted_leaves = [], []
    for j in range(n_trees):
        rows = np.argsort(leaves[:, j], kind="stable")
        sorted_rows.append(rows)
        sorted_leaves.append(leaves[rows, j])
    residual = y.astype(np.float64, copy=True)
    out = np.empty(len(ms))
    done = 0
    for i, m in enumerate(ms):
        for t in range(done, m):
            j, k = tree_of[order[t]], node_of[order[t]]
            w = wavelets[j]
            lo = np.searchsorted(sorted_leaves[j], k, side="left")
            hi = np.searchsorted(sorted_leaves[j], w.subtree_end[k], side="left")
            residual[sorted_rows[j][lo:hi]] -= w.coef[k] / n_trees
        done = m
        out[i] = np.einsum("ij,ij->", residual, residual) / len(residual)
    return out


def fit_line(x: np.ndarray, e: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line of log e on log x: (slope, intercept, R^2), skipping e == 0."""
    keep = e > 0
    lx, le = np.log(x[keep]), np.log(e[keep])
    if len(lx) < 2:
        raise EstimatorError("fewer than two non-zero errors on the M grid; alpha is undefined")
    slope, intercept = np.polyfit(lx, le, 1)
    fitted = slope * lx + intercept
    ss_res, ss_tot = np.sum((le - fitted) ** 2), np.sum((le - le.mean()) ** 2)
    return float(slope), float(intercept), float(1 - ss_res / ss_tot) if ss_tot > 0 else 1.0


@dataclass
class Decomposition:
    """A fitted forest's wavelets in global rank order, with the data they were fitted on."""

    y: np.ndarray
    leaves: np.ndarray
    wavelets: list[TreeWavelets]
    order: np.ndarray  # indices into the concatenated (tree, node) list, best first
    tree_of: np.ndarray
    node_of: np.ndarray
    forest: RandomForestRegressor


def decompose(features: np.ndarray, labels: np.ndarray, est: Estimator, n_jobs: int = 1,
              progress: bool = False, desc: str = "forest", n_classes: int | None = None) -> Decomposition:
    """Scale, fit the forest and rank all its wavelets."""
    y = one_hot(labels, len(features), est.drop_last_label, n_classes)
    x = scale_features(features)
    forest = fit_forest(x, y, est, n_jobs, progress, desc)
    leaves = forest.apply(x)
    del x
    wavelets = []
    for j, tree in enumerate(forest.estimators_):
        fraction = None
        if est.norm == "empirical":  # fraction of all N samples (in- and out-of-bag) per node
            counts = np.bincount(leaves[:, j], minlength=tree.tree_.node_count).astype(np.float64)
            left, right = tree.tree_.children_left, tree.tree_.children_right
            for node in range(tree.tree_.node_count - 1, -1, -1):
                if left[node] != -1:
                    counts[node] = counts[left[node]] + counts[right[node]]
            fraction = counts / len(leaves)
        wavelets.append(tree_wavelets(tree.tree_, est, fraction))
    tree_of = np.concatenate([np.full(len(w.coef), j) for j, w in enumerate(wavelets)])
    node_of = np.concatenate([np.arange(len(w.coef)) for w in wavelets])
    log_norm = np.concatenate([w.log_norm for w in wavelets])
    order = np.lexsort((node_of, tree_of, -log_norm))  # by norm, ties by (tree, node): stable
    return Decomposition(y, leaves, wavelets, order, tree_of, node_of, forest)


def besov_alpha(features: np.ndarray, labels: np.ndarray, est: Estimator, n_jobs: int = 1,
                progress: bool = False, desc: str = "forest", n_classes: int | None = None) -> AlphaResult:
    """Alpha of (features -> labels) with estimator settings `est`."""
    started = time.perf_counter()
    check_features(features)
    n, d = features.shape
    dec = decompose(features, labels, est, n_jobs, progress, desc, n_classes)
    ms = grid(est, len(dec.order))
    e = error_curve(dec.y, dec.leaves, dec.wavelets, dec.order, dec.tree_of, dec.node_of, ms)
    x = np.asarray(ms, dtype=np.float64) + est.x_offset
    fitted = np.sqrt(e) if est.error == "l2" else e
    slope, intercept, r2 = fit_line(x, fitted)
    return AlphaResult(
        alpha=abs(slope), r2=r2, intercept=intercept, n_samples=n, n_features=d,
        n_wavelets=len(dec.order), m=ms, x=[int(v) for v in x], error=e.tolist(),
        mse=(e / dec.y.shape[1]).tolist(),
        tree_nodes=[len(w.coef) for w in dec.wavelets], tree_depths=[w.depth for w in dec.wavelets],
        zero_norms=int(sum(np.isneginf(w.log_norm).sum() for w in dec.wavelets)),
        seconds=round(time.perf_counter() - started, 2), estimator=est.model_dump(),
    )


# --------------------------------------------------------------------------- command line


def _parse_set(items: list[str]) -> dict:
    from replication.core.errors import UserError
    from replication.core.files import load_yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise EstimatorError(f"--set expects key=value, got {item[:60]!r}")
        try:
            out[key] = load_yaml(value, f"--set {key[:40]}")
        except UserError as err:
            if "not valid YAML" not in str(err):
                raise EstimatorError(str(err)) from None
            out[key] = value
        if key == "max_features":
            out[key] = str(out[key])
    return out


def _load_npy(path: str, what: str, mmap: bool = False) -> np.ndarray:
    """A .npy array without pickles, or an EstimatorError naming the file."""
    from replication.core.errors import UserError
    from replication.core.files import open_regular

    try:
        with open_regular(path, f"the {what} (.npy)"):  # a FIFO or device is refused here, not waited on
            pass
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise EstimatorError(f"{path}: no such file ({what})") from None
    except UserError as err:
        raise EstimatorError(str(err)) from None
    except Exception as err:  # a corrupt file raises OSError, ValueError, EOFError, zipfile errors, ...
        raise EstimatorError(f"{path}: not a readable .npy array of {what} ({type(err).__name__}: {err})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise EstimatorError(f"{path}: holds an .npz archive; save one array with numpy.save")
    return array


def main(argv: list[str] | None = None) -> int:
    from replication.core.files import dumps_json

    parser = argparse.ArgumentParser(prog="python -m replication.estimator.wavelets",
                                     description="Besov smoothness alpha of a representation.")
    parser.add_argument("features", help=".npy file, samples x features (any float dtype)")
    parser.add_argument("labels", help=".npy file of integer class labels, one per sample")
    parser.add_argument("--preset", default="as_reported", help="a key of smoothness.presets in --params")
    parser.add_argument("--params", default="params.yaml", help="the params file whose presets --preset names")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an estimator field, e.g. --set n_trees=5")
    parser.add_argument("--n-jobs", type=int, default=1, help="forest fitting processes (>= 1)")
    parser.add_argument("--json", action="store_true", help="print a JSON object with the curve")
    args = parser.parse_args(argv)
    try:
        check_jobs(args.n_jobs, "--n-jobs")
        est = estimator(args.preset, _parse_set(args.set), args.params)
        cluster.connect()
        features = _load_npy(args.features, "features", mmap=True)
        labels = _load_npy(args.labels, "labels")
        result = besov_alpha(features, labels, est, n_jobs=args.n_jobs, progress=not args.json)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(dumps_json(dataclasses.asdict(result)))
    else:
        print(f"alpha {result.alpha:.6f}  R^2 {result.r2:.4f}  wavelets {result.n_wavelets}  "
              f"samples {result.n_samples}  features {result.n_features}  ({result.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
