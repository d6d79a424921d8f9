"""Stage mislabel@RUN-PRESET-RATE: alpha of a fixed representation as labels are shuffled.

RUN is an entry of mislabel.runs: the network the study leads with, then other training seeds of it.
As originally: the clean network is not retrained; the labels of a random `rate` fraction of the
50,000 training rows are shuffled among themselves (about 10% of them land on their own class again),
a forest is fitted and alpha computed. Beyond the original, the shuffle and the forest are repeated
over `mislabel.seeds` (forest seed = preset seed + shuffle seed), so the spread is visible.

    python -m replication.stages.mislabel PRESET RATE [--run RUN]   # writes results/mislabel/RUN/PRESET/RATE.json
                                                             # (RUN: the first of mislabel.runs by default)
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from replication.core import registry as layout
from replication.core import runtime
from replication.core.errors import run_main
from replication.core.files import write_json
from replication.estimator import cluster, wavelets
from replication.estimator import settings as cfg
from replication.estimator.settings import Estimator
from replication.networks import checkpoint, dataset, features


def alpha_under_shuffles(rep: np.ndarray, labels: np.ndarray, rate: float, est: Estimator,
                         seeds: tuple[int, ...], n_jobs: int = 1, progress: bool = False) -> dict:
    """Alpha at one rate for every seed, with mean and spread (the seeds' forests at once on a cluster)."""
    on_cluster = cluster.connect() is not None

    def one(seed: int) -> dict:
        noisy = dataset.shuffle_labels(labels, rate, seed)
        result = wavelets.besov_alpha(rep, noisy, est.model_copy(update={"seed": est.seed + seed}),
                                      n_jobs=n_jobs, progress=progress and not on_cluster,
                                      desc=f"rate {rate} seed {seed}", n_classes=10)
        return {"seed": seed, "alpha": result.alpha, "r2": result.r2,
                "changed": float(np.mean(noisy != labels)), "mse": result.mse, "m": result.m}

    if on_cluster:
        found = dict(cluster.in_flight(seeds, lambda seed: (2 * rep.nbytes, partial(one, seed)),
                                       cluster.memory_budget()))
        per_seed = [found[seed] for seed in seeds]
    else:
        per_seed = [one(seed) for seed in seeds]
    alphas = np.array([s["alpha"] for s in per_seed])
    return {
        "rate": rate,
        "alpha_mean": float(alphas.mean()),
        "alpha_std": float(alphas.std(ddof=1)) if len(alphas) > 1 else 0.0,
        "alpha_min": float(alphas.min()),
        "alpha_max": float(alphas.max()),
        "changed_mean": float(np.mean([s["changed"] for s in per_seed])),
        "seeds": per_seed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.stages.mislabel", description=__doc__.split("\n")[0])
    parser.add_argument("preset")
    parser.add_argument("rate", type=float)
    parser.add_argument("--run", help="an entry of mislabel.runs (default: the first)")
    args = parser.parse_args(argv)
    params = cfg.load()
    ml = params.mislabel
    if args.preset not in ml.presets or args.rate not in ml.rates:
        raise cfg.ConfigError(f"params.yaml: preset {args.preset!r} / rate {args.rate} not in mislabel.presets "
                              f"{ml.presets} / mislabel.rates {ml.rates}")
    if args.run is not None and args.run not in ml.runs:
        raise cfg.ConfigError(f"params.yaml: run {args.run!r} is not in mislabel.runs ({', '.join(ml.runs)})")
    run = args.run or ml.run
    cluster.connect()  # a named scheduler that cannot be reached stops the stage here, before any work
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, run, ml.weights, device)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    rep = features.representation(model, images, ml.layer)
    started = time.perf_counter()
    est = params.smoothness.estimator(args.preset)
    out = alpha_under_shuffles(rep, labels, args.rate, est, ml.seeds, wavelets.default_jobs(), progress=True)
    out.update({"preset": args.preset, "run": run, "weights": ml.weights, "layer": ml.layer,
                "n_samples": len(labels)})
    write_json(layout.mislabel(run, args.preset, args.rate), out)
    runtime.write_timing(layout.mislabel_timing(run, args.preset, args.rate),
                         seconds=round(time.perf_counter() - started, 1))
    print(f"{run} {args.preset} rate {args.rate}: alpha {out['alpha_mean']:.5f} +- {out['alpha_std']:.5f} "
          f"over {len(ml.seeds)} seeds; {out['changed_mean']:.1%} of labels changed")
    return 0


if __name__ == "__main__":
    run_main(main)
