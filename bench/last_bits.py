"""How far a forest's alpha moves when the representation moves in its last bit: the size of the difference
another processor can make (its matrix products round differently, so the same weights give a representation
that differs in the last bits, and a split threshold that falls between two tied values can go the other way).

Not a speed benchmark: it prints, for the mislabel study's network, layer and seeds, alpha on the representation
as computed here and on a copy with every value moved one unit in the last place (up or down at random, seeded),
and the change in units of the spread over shuffle seeds.

    python bench/last_bits.py [--preset as_reported] [--rate 0.25]   # needs the trained weights (dvc repro train@...)
"""

from __future__ import annotations

import argparse

import numpy as np

from replication.core import runtime
from replication.estimator import settings as cfg
from replication.estimator import wavelets
from replication.estimator.settings import estimator
from replication.networks import checkpoint, dataset, features
from replication.stages.mislabel import alpha_under_shuffles


def nudged(rep: np.ndarray, seed: int = 0) -> np.ndarray:
    """`rep` with every value one unit in the last place up or down (at random, seeded)."""
    up = np.random.default_rng(seed).random(rep.shape) < 0.5
    return np.where(up, np.nextafter(rep, np.inf), np.nextafter(rep, -np.inf)).astype(rep.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="as_reported")
    parser.add_argument("--rate", type=float, default=0.25)
    args = parser.parse_args()
    params = cfg.load()
    ml = params.mislabel
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, ml.run, ml.weights, device)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    rep = features.representation(model, images, ml.layer)
    est = estimator(args.preset)
    jobs = wavelets.default_jobs()
    here = alpha_under_shuffles(rep, labels, args.rate, est, ml.seeds, jobs)
    moved = alpha_under_shuffles(nudged(rep), labels, args.rate, est, ml.seeds, jobs)
    print(f"{ml.run} {ml.layer}, preset {args.preset}, rate {args.rate}: {rep.shape[0]} x {rep.shape[1]} "
          f"{rep.dtype} values, each moved one unit in the last place")
    print("seed  alpha here   alpha moved  change")
    for a, b in zip(here["seeds"], moved["seeds"], strict=True):
        print(f"{a['seed']:>4}  {a['alpha']:.6f}     {b['alpha']:.6f}     {b['alpha'] - a['alpha']:+.2e}")
    changed = sum(a["alpha"] != b["alpha"] for a, b in zip(here["seeds"], moved["seeds"], strict=True))
    shift = moved["alpha_mean"] - here["alpha_mean"]
    print(f"{changed} of {len(ml.seeds)} seeds moved; mean {here['alpha_mean']:.6f} -> {moved['alpha_mean']:.6f} "
          f"({shift:+.2e}, {abs(shift) / here['alpha_std']:.2f} of the shuffle-seed sd {here['alpha_std']:.2e})")


if __name__ == "__main__":
    main()
