"""Stage train@RUN: train one network with the original protocol and evaluate it on the test set.

    python -m replication.stages.train RUN      # writes results/train/RUN/
"""

from __future__ import annotations

import argparse

import torch

from replication.core import registry as layout
from replication.core import runtime
from replication.core.errors import run_main
from replication.core.files import exclusive, write_csv, write_json
from replication.networks import dataset, nets, training, weights
from replication.networks import settings as cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.stages.train", description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a key of `runs` in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    run_cfg = params.run_config(args.run)
    resume = layout.resume_file("train", args.run, ".pt")
    with exclusive(training.lock_of(resume), f"training {args.run}"):
        pass  # a second training of this run stops here, in a second, not after the dataset has loaded
    device = runtime.setup(params.base)
    ds = dataset.load_dataset(params.data, device)
    result = training.fit(args.run, params, ds, device, resume_path=resume)

    model = nets.build(run_cfg.network, params.network_config(run_cfg.network)).to(device)
    model.load_state_dict(result.weights)
    metrics = training.test_metrics(model, ds, params.train.eval_batch_size)
    metrics.update({
        "network": run_cfg.network,
        "params": nets.count_params(model),
        "epochs_run": result.epochs_run,
        "restored_epoch": result.restored_epoch,
        "device": device.type,
        "torch": torch.__version__.split("+")[0],
    })
    snapshot = result.snapshot if result.snapshot is not None else result.weights
    model.load_state_dict(snapshot)
    metrics["snapshot"] = {
        "epoch": min(params.train.snapshot_epoch, result.epochs_run),
        **training.test_metrics(model, ds, params.train.eval_batch_size),
    }
    weights.save(layout.weights(args.run, "snapshot"), snapshot)
    weights.save(layout.weights(args.run, "final"), result.weights)
    write_csv(layout.history(args.run), result.history, layout.HISTORY_COLUMNS)
    write_json(layout.train_metrics(args.run), metrics)
    runtime.write_timing(layout.train_timing(args.run), seconds=round(result.seconds, 1),
                         epochs=[row["seconds"] for row in result.history])
    resume.unlink(missing_ok=True)
    print(f"{args.run}: test accuracy {metrics['test_accuracy']:.4f}, restored epoch "
          f"{result.restored_epoch} of {result.epochs_run}, {result.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    run_main(main)
