"""Stage overfit: the 100-epoch ResNet12 against the early-stopped one.

The long run is train@<overfit.run> (the training code with `stopping: none`); this stage sets its accuracy and
losses beside the baseline's. Their alphas are compared layer by layer by the claims, under every preset.
"""

from __future__ import annotations

from replication.analysis import settings as cfg
from replication.core import registry as layout
from replication.core.errors import run_main
from replication.core.files import write_json


def main() -> int:
    params = cfg.load()
    long_run, baseline = params.overfit.run, params.overfit.baseline
    base_run = baseline
    long_metrics = layout.need(layout.train_metrics(long_run), layout.TRAIN.stage(long_run))
    base_metrics = layout.need(layout.train_metrics(base_run), layout.TRAIN.stage(base_run))
    history = layout.need(layout.history(long_run), layout.TRAIN.stage(long_run))
    best = min(history, key=lambda h: float(h["val_loss"]))
    summary = {
        "run": long_run, "baseline_run": base_run,
        "epochs": long_metrics["epochs_run"],
        "test_accuracy": long_metrics["test_accuracy"], "baseline_test_accuracy": base_metrics["test_accuracy"],
        "final_val_loss": float(history[-1]["val_loss"]), "final_train_loss": float(history[-1]["train_loss"]),
        "min_val_loss": float(best["val_loss"]), "min_val_epoch": int(best["epoch"]),
    }
    write_json(layout.OVERFIT_FILE, summary)
    print(f"overfit: test accuracy {summary['test_accuracy']:.4f} vs {summary['baseline_test_accuracy']:.4f}; "
          f"validation loss {summary['final_val_loss']:.3f} at the end, {summary['min_val_loss']:.3f} at epoch "
          f"{summary['min_val_epoch']}")
    return 0


if __name__ == "__main__":
    run_main(main)
