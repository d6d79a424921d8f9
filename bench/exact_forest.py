"""The exact tree builder against scikit-learn's on a real layer: times, their ratio, and whether every tree is
the same.

Takes one layer's representation of a committed network (default: ResNet12's conv8_relu, 50,000 x 4,096), scales
it as the estimator does, and grows the preset's forest (default `as_run`: 10 trees, all features per split)
twice in this one run: with sklearn's builder and with replication.estimator.exact_forest, both on the same number of
threads. Prints both wall times, the ratio, and, tree by tree, whether every node array (feature, threshold,
children, n_node_samples, weighted_n_node_samples, impurity, value) is identical.

    python bench/exact_forest.py [--run resnet12] [--layer conv8_relu] [--preset as_run] [--n-jobs 2] [--trees N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from replication.core import runtime
from replication.estimator import exact_forest, wavelets
from replication.estimator import settings as cfg
from replication.estimator.settings import estimator
from replication.networks import checkpoint, dataset, features

ARRAYS = ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
          "weighted_n_node_samples")


def differences(a, b) -> list[str]:
    """The node arrays in which two fitted trees differ (empty: node-identical)."""
    sa, sb = a.tree_.__getstate__(), b.tree_.__getstate__()
    if sa["node_count"] != sb["node_count"]:
        return [f"node_count {sa['node_count']} vs {sb['node_count']}"]
    out = [name for name in ARRAYS if not np.array_equal(sa["nodes"][name], sb["nodes"][name])]
    if not np.array_equal(sa["values"], sb["values"]):
        out.append("value")
    return out


def layer(run: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    params = cfg.load()
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, run, "final", device)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    return features.representation(model, images, name), labels


def timed_fit(x: np.ndarray, y: np.ndarray, est, n_jobs: int, engine: str):
    os.environ[exact_forest.FOREST_VARIABLE] = engine
    started = time.perf_counter()
    forest = wavelets.fit_forest(x, y, est, n_jobs=n_jobs)
    return forest, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="resnet12")
    parser.add_argument("--layer", default="conv8_relu")
    parser.add_argument("--preset", default="as_run")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--trees", type=int, default=0, help="fewer trees than the preset's (0: the preset's)")
    args = parser.parse_args()
    est = estimator(args.preset, {"n_trees": args.trees} if args.trees else None)
    rep, labels = layer(args.run, args.layer)
    y = wavelets.one_hot(np.asarray(labels), len(rep), est.drop_last_label)
    x = wavelets.scale_features(rep)
    print(f"{args.run} {args.layer}: {x.shape[0]} x {x.shape[1]}, preset {args.preset}, {est.n_trees} trees, "
          f"{args.n_jobs} threads each")
    exact, t_exact = timed_fit(x, y, est, args.n_jobs, "exact")
    print(f"exact builder: {t_exact:8.1f} s", flush=True)
    reference, t_sklearn = timed_fit(x, y, est, args.n_jobs, "sklearn")
    print(f"scikit-learn:  {t_sklearn:8.1f} s", flush=True)
    print(f"ratio (sklearn / exact): {t_sklearn / t_exact:.2f}x")
    same = 0
    for j, (a, b) in enumerate(zip(reference.estimators_, exact.estimators_, strict=True)):
        diff = differences(a, b)
        same += not diff
        print(f"tree {j}: {a.tree_.node_count} nodes, depth {a.tree_.max_depth}: "
              f"{'identical' if not diff else 'DIFFERS in ' + ', '.join(diff)}")
    print(f"{same} of {est.n_trees} trees node-identical")


if __name__ == "__main__":
    main()
