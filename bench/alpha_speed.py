"""Speed of the alpha estimator, measured against baselines in the same run.

1. One forest, the M-term error curve three ways: the project's incremental method, a
   straightforward re-implementation of the original loop (a sparse coefficient matrix of the chosen
   wavelets rebuilt and multiplied with the whole decision-path matrix at every grid step), and a
   smarter re-prediction (CSC column slicing). Prints times, ratios and the largest relative
   difference of the curves (target against the original loop: >= 50x, <= 1e-10).
2. Whole alpha (scaling, forest, wavelets, curve, fit) of an N x d layer with a preset, in a child
   process that reports its own peak memory (target for 50,000 x 4,096 `as_reported`: < 90 s on
   2 cores, < 4 GB).

    python bench/alpha_speed.py [--n 50000] [--d 4096] [--preset as_reported] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse import lil_matrix

from replication.estimator import wavelets as W


def relu_clusters(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ReLU-like activations with weak class structure (many exact zeros, as in real layers)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    centres = rng.normal(scale=0.3, size=(10, d)).astype(np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += centres[y]
    np.maximum(x, 0, out=x)
    return x, y


def original_loop(dec: W.Decomposition, x: np.ndarray, ms: list[int]) -> np.ndarray:
    """The original's loop: at every step rebuild a sparse (lil) matrix holding the chosen wavelets'
    coefficients and multiply the whole sample-by-node decision-path matrix with it."""
    paths = dec.forest.decision_path(x)[0].tocsr()
    coef = np.concatenate([w.coef for w in dec.wavelets]) / len(dec.wavelets)
    out = []
    for m in ms:
        chosen = np.sort(dec.order[:m])
        pruned = lil_matrix(coef.shape)
        pruned[chosen] = coef[chosen]
        pred = (paths @ pruned.tocsr()).toarray()
        out.append(np.mean(np.sum((dec.y - pred) ** 2, axis=1)))
    return np.asarray(out)


def column_slicing(dec: W.Decomposition, x: np.ndarray, ms: list[int]) -> np.ndarray:
    """A smarter re-prediction: slice the chosen columns of a CSC path matrix at every step."""
    paths = dec.forest.decision_path(x)[0].tocsc()
    coef = np.concatenate([w.coef for w in dec.wavelets]) / len(dec.wavelets)
    out = []
    for m in ms:
        chosen = dec.order[:m]
        pred = paths[:, chosen] @ coef[chosen]
        out.append(np.mean(np.sum((dec.y - pred) ** 2, axis=1)))
    return np.asarray(out)


def whole_alpha(path: str, labels: np.ndarray, est: W.Estimator, n_jobs: int, queue) -> None:
    features = np.load(path, mmap_mode="r")
    started = time.perf_counter()
    result = W.besov_alpha(features, labels, est, n_jobs=n_jobs)
    seconds = time.perf_counter() - started
    queue.put((result.alpha, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=4096)
    parser.add_argument("--curve-d", type=int, default=256, help="features for the curve comparison")
    parser.add_argument("--preset", default="as_reported")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--skip-curve", action="store_true", help="only the whole-layer measurement")
    args = parser.parse_args()
    est = W.estimator(args.preset)
    if not args.skip_curve:
        compare_curves(args, est)
    whole_layer(args, est)


def compare_curves(args: argparse.Namespace, est: W.Estimator) -> None:
    x, y = relu_clusters(args.n, args.curve_d)
    dec = W.decompose(x, y, est, n_jobs=args.n_jobs)
    ms = W.grid(est, len(dec.order))
    t0 = time.perf_counter()
    fast = W.error_curve(dec.y, dec.leaves, dec.wavelets, dec.order, dec.tree_of, dec.node_of, ms)
    t1 = time.perf_counter()
    scaled = W.scale_features(x)
    slow = original_loop(dec, scaled, ms)
    t2 = time.perf_counter()
    sliced = column_slicing(dec, scaled, ms)
    t3 = time.perf_counter()
    diff = float(np.max(np.abs(fast - slow) / slow))
    diff2 = float(np.max(np.abs(fast - sliced) / sliced))
    print(f"M-term curve, {args.n} x {args.curve_d}, {len(dec.order)} wavelets, {len(ms)} grid points")
    print(f"  incremental             {t1 - t0:8.3f} s")
    print(f"  original loop           {t2 - t1:8.3f} s   speed-up {(t2 - t1) / (t1 - t0):6.1f}x   "
          f"max relative difference {diff:.2e}")
    print(f"  CSC column re-predict   {t3 - t2:8.3f} s   speed-up {(t3 - t2) / (t1 - t0):6.1f}x   "
          f"max relative difference {diff2:.2e}")


def whole_layer(args: argparse.Namespace, est: W.Estimator) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "features.npy")
        x, y = relu_clusters(args.n, args.d, seed=1)
        np.save(path, x)
        del x
        ctx = mp.get_context("spawn")  # a fresh interpreter: its peak RSS is the estimator's alone
        queue = ctx.Queue()
        child = ctx.Process(target=whole_alpha, args=(path, y, est, args.n_jobs, queue))
        child.start()
        alpha, seconds, peak_gb = queue.get()
        child.join()
    print(f"whole alpha, {args.n} x {args.d}, preset {args.preset}, n_jobs {args.n_jobs}:")
    print(f"  {seconds:.1f} s, peak RSS {peak_gb:.2f} GB, alpha {alpha:.5f}")


if __name__ == "__main__":
    main()
