"""Stage smoothness@TARGET: the Besov alpha of every layer's representation of one trained network.

    python -m replication.smoothness TARGET    # writes results/smoothness/TARGET/
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from replication import cli, features, runtime, train, wavelets
from replication import config as cfg
from replication import data as cifar
from replication.io import dumps_json, file_md5, read_json, write_csv, write_json

RESULTS = Path("results/smoothness")
RESUME = Path(".resume/smoothness")
CSV_COLUMNS = ["index", "layer", "dim", "alpha", "r2", "n_wavelets", "seconds"]


def training_images(data: cfg.DataConfig, limit: int) -> tuple[torch.Tensor, np.ndarray]:
    """All (or the first `limit`) canonical training images, normalised, and their labels."""
    images, labels = cifar.load_split(data.root, "train")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return runtime.normalise(images, data), np.asarray(labels, dtype=np.int64)


def run(model, images: torch.Tensor, labels: np.ndarray, est: wavelets.Estimator, n_jobs: int = 1,
        done: dict | None = None, on_layer=None, progress: bool = True, name: str = "") -> list[dict]:
    """Alpha of every layer (input first); `done` holds layers already computed (resume)."""
    rows = []
    done = done or {}
    layers = features.layer_names(model)
    bar = tqdm(layers, desc=f"{name} layers", unit="layer", disable=not progress)
    for index, layer in enumerate(bar):
        bar.set_postfix(layer=layer)
        if layer in done:
            rows.append(done[layer])
            continue
        rep = features.representation(model, images, layer)
        result = wavelets.besov_alpha(rep, labels, est, n_jobs=n_jobs, progress=progress,
                                      desc=f"{layer} ({rep.shape[1]} features)", n_classes=10)
        del rep
        row = {"index": index, "layer": layer, "dim": result.n_features, **result.summary(),
               "curve": {"m": result.m, "x": result.x, "error": result.error, "mse": result.mse}}
        rows.append(row)
        if on_layer is not None:
            on_layer(row)
        if progress:
            tqdm.write(f"{name} {layer}: alpha {result.alpha:.5f} (R^2 {result.r2:.3f}, "
                       f"{result.n_features} features, {result.seconds:.0f} s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.smoothness", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a key of smoothness.targets in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    target = params.target(args.target)
    sm = params.smoothness
    est = wavelets.estimator(sm.preset, sm.overrides)
    device = runtime.setup(params.base)
    model = train.load_weights(params, target.run, target.weights, device)
    images, labels = training_images(params.data, sm.limit_samples)
    weights_file = train.weights_path(target.run, target.weights)

    key = hashlib.sha256(dumps_json([dataclasses.asdict(est), cfg.as_dict(params.data), sm.limit_samples,
                                     file_md5(weights_file)]).encode()).hexdigest()[:16]
    resume = RESUME / f"{args.target}.json"
    done = {}
    if resume.exists():
        state = read_json(resume)
        if state.get("key") == key:
            done = {row["layer"]: row for row in state["rows"]}
            print(f"{args.target}: resuming, {len(done)} layers already done ({resume})")

    def checkpoint(row: dict) -> None:
        done[row["layer"]] = row
        write_json(resume, {"key": key, "rows": list(done.values())})

    started = time.perf_counter()
    rows = run(model, images, labels, est, sm.n_jobs, done, checkpoint, name=args.target)
    out = RESULTS / args.target
    write_json(out / "alphas.json", {
        "target": args.target, "run": target.run, "weights": target.weights,
        "network": params.run(target.run).network, "preset": sm.preset, "estimator": dataclasses.asdict(est),
        "n_samples": len(labels), "weights_md5": file_md5(weights_file),
        "layers": [{k: v for k, v in row.items() if k != "curve"} for row in rows],
        "last_layer_curve": rows[-1]["curve"],
    })
    write_csv(out / "alphas.csv", rows, CSV_COLUMNS)
    resume.unlink(missing_ok=True)
    summary = ", ".join(f"{r['layer']} {r['alpha']:.4f}" for r in rows)
    print(f"{args.target}: {summary} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    cli.main(main)
