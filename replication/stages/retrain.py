"""Stage retrain@RATE: retrain the mislabel network on shuffled labels and take alpha per layer.

Beyond the original, off by default (`mislabel.retrain: []`). The original relabelled a fixed
representation; here the network itself learns from labels of which a `rate` fraction of rows were
shuffled among themselves (the mislabel study's shuffle with the first of `mislabel.seeds`).
Everything else is the run `mislabel.run` (network, seed, stopping, epochs), trained by the shared
loop: validation rows carry the shuffled labels too, as they would in noisy data, while the test set
stays clean. Alpha of every layer is taken against the labels the network was trained on, with the
smoothness stage's estimator.

    python -m replication.stages.retrain RATE    # writes results/retrain/RATE/
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from replication.core import registry as layout
from replication.core import runtime
from replication.core.errors import run_main
from replication.core.files import file_md5, write_csv, write_json
from replication.estimator import settings as cfg
from replication.estimator import wavelets
from replication.estimator.layerwise import layer_alphas
from replication.networks import dataset, nets, training, weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.stages.retrain", description=__doc__.split("\n")[0])
    parser.add_argument("rate", type=float)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    ml = params.mislabel
    if args.rate not in ml.retrain:
        raise cfg.ConfigError(f"params.yaml: rate {args.rate} is not in mislabel.retrain {list(ml.retrain)}; "
                              "add it there and run `dvc repro retrain@RATE`")
    run_cfg = params.run_config(ml.run)
    shuffle_seed = ml.seeds[0]
    device = runtime.setup(params.base)
    clean_ds = dataset.load_dataset(params.data, device)
    ds, noisy = dataset.with_noisy_labels(clean_ds, args.rate, shuffle_seed)
    changed = float(np.mean(noisy != clean_ds.y_train_all.cpu().numpy()))
    print(f"{layout.RETRAIN.stage(args.rate)}: {changed:.1%} of the training labels changed "
          f"(shuffle seed {shuffle_seed})")

    started = time.perf_counter()
    # keyed by the shuffle seed too: the run's own fingerprint does not cover the labels
    resume = layout.resume_file("retrain", f"{args.rate}-seed{shuffle_seed}", ".pt")
    result = training.fit(ml.run, params, ds, device, resume_path=resume)
    model = nets.build(run_cfg.network, params.network_config(run_cfg.network)).to(device)
    model.load_state_dict(result.weights)
    metrics = training.test_metrics(model, ds, params.train.eval_batch_size)

    sm = params.smoothness
    images, _ = dataset.training_images(params.data, sm.limit_samples)
    labels = noisy[: len(images)]
    rows = layer_alphas(model, images, labels, sm.estimator(ml.retrain_preset), wavelets.default_jobs(),
                        name=layout.RETRAIN.stage(args.rate))

    out = layout.retrain_dir(args.rate)
    weights.save(out / "final.pt", result.weights)
    write_csv(out / "history.csv", result.history, layout.HISTORY_COLUMNS)
    write_csv(out / "alphas.csv", rows, layout.ALPHA_COLUMNS)
    write_json(out / "result.json", {
        "rate": args.rate, "run": ml.run, "network": run_cfg.network, "shuffle_seed": shuffle_seed,
        "changed": changed, "preset": ml.retrain_preset, "n_samples": len(labels),
        "test_accuracy": metrics["test_accuracy"], "macro_precision": metrics["macro_precision"],
        "macro_recall": metrics["macro_recall"], "epochs_run": result.epochs_run,
        "restored_epoch": result.restored_epoch, "device": device.type,
        "weights_md5": file_md5(out / "final.pt"),
        "layers": [{k: v for k, v in layout.without_seconds(row).items() if k != "curve"} for row in rows],
    })
    runtime.write_timing(layout.retrain_timing(args.rate), seconds=round(time.perf_counter() - started, 1),
                         epochs=[row["seconds"] for row in result.history],
                         layers={row["layer"]: row["seconds"] for row in rows})
    resume.unlink(missing_ok=True)
    print(f"{layout.RETRAIN.stage(args.rate)}: test accuracy {metrics['test_accuracy']:.4f}, {rows[-1]['layer']} alpha "
          f"{rows[-1]['alpha']:.4f}, restored epoch {result.restored_epoch} of {result.epochs_run}")
    return 0


if __name__ == "__main__":
    run_main(main)
