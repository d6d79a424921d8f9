"""How the original's estimator (`as_run`: all features per split) scales with processes and Dask workers.

1. One fixed layer (ReLU-like N x d features, 10 classes; default 20,000 x 1,024, a stated smaller
   stand-in for a 50,000 x 4,096 layer) and one forest, grown locally with 1 and 2 processes and on a
   LocalCluster (worker processes on 127.0.0.1) of 1 and 2 workers, more with --workers. Prints the
   forest's wall time, the speed-up over 1 local process and the cluster's overhead against the same
   number of local processes (target: a 2-worker cluster within 10% of 2 local processes). Every run
   must grow the same trees; the script stops if one differs.
2. --extrapolate: the wall time of `as_run` on the nine networks the original analysed, on W workers,
   from the committed per-layer times (results/smoothness/*/TARGET/alphas.json); see `extrapolate`.

    python bench/alpha_scale.py [--n 20000] [--d 1024] [--workers 1,2] [--extrapolate]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import time
from pathlib import Path

import numpy as np
from alpha_speed import relu_clusters

from replication.estimator import cluster, wavelets

ORIGINAL_NINE = ("resnet12", "plain12", "resnet12_epoch5", "plain12_epoch5", "resnet12_overfit", "resnet12_tanh",
                 "plain12_tanh", "resnet10", "plain6")


def trees_digest(forest) -> str:
    h = hashlib.sha256()
    for tree in forest.estimators_:
        h.update(tree.tree_.threshold.tobytes())
        h.update(tree.tree_.value.tobytes())
    return h.hexdigest()[:16]


def timed_fit(x: np.ndarray, y: np.ndarray, est, n_jobs: int) -> tuple[float, str]:
    started = time.perf_counter()
    forest = wavelets.fit_forest(x, y, est, n_jobs=n_jobs)
    return time.perf_counter() - started, trees_digest(forest)


def on_local_cluster(x: np.ndarray, y: np.ndarray, est, workers: int) -> tuple[float, str]:
    """The forest on a fresh LocalCluster of `workers` single-threaded processes. Not timed: start-up and the
    workers' first import of sklearn (a stage pays both once); timed: sending x and y, growing the trees,
    returning them."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        os.environ[cluster.SCHEDULER_VARIABLE] = local.scheduler_address
        try:
            client = cluster.connect()
            client.wait_for_workers(workers)
            client.run(importlib.import_module, "sklearn.ensemble")  # warm, as after a stage's first forest
            return timed_fit(x, y, est, -1)
        finally:
            cluster.disconnect()
            del os.environ[cluster.SCHEDULER_VARIABLE]


def scaling(n: int, d: int, trees: int, worker_counts: list[int]) -> None:
    features, labels = relu_clusters(n, d)
    est = wavelets.estimator("as_run", {"n_trees": trees})
    x = wavelets.scale_features(features)
    y = wavelets.one_hot(labels, n, est.drop_last_label, 10)
    print(f"workload: one as_run forest, {trees} trees, {n} x {d} ReLU-like features, 10 classes")
    rows, digests = [], set()
    for count in worker_counts:
        for mode in ("local", "cluster"):
            seconds, digest = timed_fit(x, y, est, count) if mode == "local" else on_local_cluster(x, y, est, count)
            digests.add(digest)
            rows.append((mode, count, seconds))
            print(f"  {mode:7s} {count:3d}: {seconds:7.1f} s", flush=True)
    if len(digests) != 1:
        raise SystemExit(f"the runs grew different trees: {sorted(digests)}")
    base = next(s for m, c, s in rows if m == "local" and c == 1)
    local = {c: s for m, c, s in rows if m == "local"}
    print("\n| mode | processes / workers | forest wall (s) | speed-up vs 1 local | vs local, same count |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode, count, seconds in rows:
        print(f"| {mode} | {count} | {seconds:.1f} | {base / seconds:.2f}x | {seconds / local[count]:.2f} |")
    print(f"\nsame trees in every run: {digests.pop()}")
    started = time.perf_counter()
    wavelets.besov_alpha(features, labels, est, n_jobs=2)
    client_side = time.perf_counter() - started - local.get(2, base / 2)
    print(f"work that stays here per layer (scaling, leaves, wavelets, M-term curve, fit): {client_side:.1f} s "
          f"against {base:.1f} s of trees on one process")


def layer_times(root: Path, preset: str, target: str) -> dict[str, float] | None:
    """Wall seconds per layer (input aside) of a smoothness stage, from its timing file."""
    path = root / "timings" / "smoothness" / preset / f"{target}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["layers"]


def extrapolate(root: Path, worker_counts: list[int], processes: int = 2, trees: int = 10) -> None:
    """Per layer, the committed as_run wall time (made with `processes` local processes) is taken as
    `trees` equal tree tasks of seconds * processes / trees core-seconds each. A network not yet run under
    as_run takes its as_reported layer times scaled by the ratio as_run / as_reported of ResNet12 and
    Plain12 together. On W workers the wall time lies between max(longest task, total / W) (perfect
    packing) and total / W + longest task (any greedy schedule, Graham's bound); the client-side
    decomposition of each layer is counted inside the tasks, which overstates the workers' share."""
    measured = {t: layer_times(root, "as_run", t) for t in ORIGINAL_NINE}
    ratio_pairs = [(sum(measured[t].values()), sum(layer_times(root, "as_reported", t).values()))
                   for t in ("resnet12", "plain12") if measured[t]]
    if not ratio_pairs:
        raise SystemExit("no as_run results to extrapolate from (results/smoothness/as_run/)")
    ratio = sum(a for a, _ in ratio_pairs) / sum(b for _, b in ratio_pairs)
    per_network = {}
    for target in ORIGINAL_NINE:
        times = measured[target] or {k: v * ratio for k, v in (layer_times(root, "as_reported", target) or {}).items()}
        per_network[target] = [s * processes / trees for s in times.values() for _ in range(trees)]
    for target in ("resnet12", "plain12"):
        own = per_network[target]
        print(f"{target} as_run alone on 16 workers: {len(own)} tree tasks, {sum(own) / 60:.0f} core-minutes, "
              f"{max(max(own), sum(own) / 16) / 60:.1f}-{(sum(own) / 16 + max(own)) / 60:.1f} min")
    tasks = [t for own in per_network.values() for t in own]
    total, longest = sum(tasks), max(tasks)
    done = sum(1 for t in ORIGINAL_NINE if measured[t])
    print(f"\nas_run on the nine networks: {len(tasks)} tree tasks, {total / 3600:.1f} core-hours, longest task "
          f"{longest / 60:.1f} min ({done} of 9 networks measured, the rest scaled by as_run/as_reported "
          f"= {ratio:.1f})")
    print("| workers | lower bound (h) | upper bound (h) |")
    print("| ---: | ---: | ---: |")
    for w in worker_counts:
        print(f"| {w} | {max(longest, total / w) / 3600:.2f} | {(total / w + longest) / 3600:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--trees", type=int, default=10)
    parser.add_argument("--workers", default="1,2", help="comma-separated process / worker counts")
    parser.add_argument("--extrapolate", action="store_true", help="also the nine networks on 16, 64, 256 workers")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    if not args.skip_scaling:
        scaling(args.n, args.d, args.trees, [int(w) for w in args.workers.split(",")])
    if args.extrapolate:
        extrapolate(Path(__file__).resolve().parents[1], [16, 64, 256])


if __name__ == "__main__":
    main()
