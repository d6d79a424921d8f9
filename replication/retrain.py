"""Stage retrain@RATE: retrain the mislabel network on shuffled labels and take alpha per layer.

Beyond the original, off by default (`mislabel.retrain: []`). The original relabelled a fixed
representation; here the network itself learns from labels of which a `rate` fraction of rows were
shuffled among themselves (the shuffle of `mislabel.shuffle_labels` with the first of
`mislabel.seeds`). Everything else is the run `mislabel.run` (network, seed, stopping, epochs),
trained by the shared loop: validation rows carry the shuffled labels too, as they would in noisy
data, while the test set stays clean. Alpha of every layer is taken against the labels the network
was trained on, with the smoothness stage's estimator.

    python -m replication.retrain RATE    # writes results/retrain/RATE/
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from replication import cli, mislabel, nets, runtime, smoothness, train, wavelets
from replication import config as cfg
from replication.io import file_md5, write_csv, write_json

RESULTS = Path("results/retrain")
RESUME = Path(".resume/retrain")


def noisy_dataset(ds: runtime.Dataset, rate: float, seed: int) -> tuple[runtime.Dataset, np.ndarray]:
    """`ds` with a seeded `rate` fraction of its training labels shuffled, and those labels."""
    clean = ds.y_train_all.cpu().numpy()
    noisy = mislabel.shuffle_labels(clean, rate, seed)
    y = torch.from_numpy(noisy).to(ds.y_train_all.device)
    return dataclasses.replace(ds, y_train_all=y), noisy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.retrain", description=__doc__.split("\n")[0])
    parser.add_argument("rate", type=float)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    ml = params.mislabel
    if args.rate not in ml.retrain:
        raise cfg.ConfigError(f"params.yaml: rate {args.rate} is not in mislabel.retrain {list(ml.retrain)}; "
                              "add it there and run `dvc repro retrain@RATE`")
    spec = params.run(ml.run)
    shuffle_seed = ml.seeds[0]
    device = runtime.setup(params.base)
    clean_ds = runtime.load_dataset(params.data, device)
    ds, noisy = noisy_dataset(clean_ds, args.rate, shuffle_seed)
    changed = float(np.mean(noisy != clean_ds.y_train_all.cpu().numpy()))
    print(f"retrain@{args.rate}: {changed:.1%} of the training labels changed (shuffle seed {shuffle_seed})")

    started = time.perf_counter()
    resume = RESUME / f"{args.rate}-seed{shuffle_seed}.pt"  # the run's own fingerprint does not cover the labels
    result = train.run(ml.run, params, ds, device, resume_path=resume)
    model = nets.build(spec.network, params.network(spec.network)).to(device)
    model.load_state_dict(result.weights)
    metrics = train.test_metrics(model, ds, params.train.eval_batch_size)

    sm = params.smoothness
    est = wavelets.estimator(sm.preset, sm.overrides)
    images, _ = smoothness.training_images(params.data, sm.limit_samples)
    labels = noisy[: len(images)]
    rows = smoothness.run(model, images, labels, est, sm.n_jobs, name=f"retrain@{args.rate}")

    out = RESULTS / str(args.rate)
    train.save_weights(out / "final.pt", result.weights)
    write_csv(out / "history.csv", result.history, train.HISTORY_COLUMNS)
    write_csv(out / "alphas.csv", rows, smoothness.CSV_COLUMNS)
    write_json(out / "result.json", {
        "rate": args.rate, "run": ml.run, "network": spec.network, "shuffle_seed": shuffle_seed,
        "changed": changed, "preset": sm.preset, "n_samples": len(labels),
        "test_accuracy": metrics["test_accuracy"], "macro_precision": metrics["macro_precision"],
        "macro_recall": metrics["macro_recall"], "epochs_run": result.epochs_run,
        "restored_epoch": result.restored_epoch, "device": device.type,
        "weights_md5": file_md5(out / "final.pt"), "seconds": round(time.perf_counter() - started, 1),
        "layers": [{k: v for k, v in row.items() if k != "curve"} for row in rows],
    })
    resume.unlink(missing_ok=True)
    print(f"retrain@{args.rate}: test accuracy {metrics['test_accuracy']:.4f}, {rows[-1]['layer']} alpha "
          f"{rows[-1]['alpha']:.4f}, restored epoch {result.restored_epoch} of {result.epochs_run}")
    return 0


if __name__ == "__main__":
    cli.main(main)
