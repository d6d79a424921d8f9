"""Stage overfit: the 100-epoch ResNet12 against the early-stopped one.

The long run is train@<overfit.run> (the training code with `stopping: none`) and its alphas are
smoothness@<overfit.run>; this stage gathers them beside the baseline's into one comparison.
"""

from __future__ import annotations

from replication import config as cfg
from replication import layout
from replication.claims import conv_lower, layer_differences
from replication.errors import run_main
from replication.files import write_json


def main() -> int:
    params = cfg.load()
    long_run, baseline = params.overfit.run, params.overfit.baseline
    base_run = baseline
    long_metrics = layout.need(layout.train_metrics(long_run), f"train@{long_run}")
    base_metrics = layout.need(layout.train_metrics(base_run), f"train@{base_run}")
    history = layout.need(layout.history(long_run), f"train@{long_run}")
    preset = params.smoothness.preset
    layers = layer_differences(layout.need(layout.alphas_json(preset, long_run), f"smoothness@{long_run}")["layers"],
                     layout.need(layout.alphas_json(preset, baseline), f"smoothness@{baseline}")["layers"])
    best = min(history, key=lambda h: float(h["val_loss"]))
    summary = {
        "run": long_run, "baseline_run": base_run,
        "epochs": long_metrics["epochs_run"],
        "test_accuracy": long_metrics["test_accuracy"], "baseline_test_accuracy": base_metrics["test_accuracy"],
        "final_val_loss": float(history[-1]["val_loss"]), "final_train_loss": float(history[-1]["train_loss"]),
        "min_val_loss": float(best["val_loss"]), "min_val_epoch": int(best["epoch"]),
        **conv_lower(layers),
        "layers": layers,
    }
    write_json(layout.OVERFIT, summary)
    fc1 = layers[-1]
    print(f"overfit: test accuracy {summary['test_accuracy']:.4f} vs {summary['baseline_test_accuracy']:.4f}; "
          f"fc1 alpha {fc1['overfit']:.4f} vs {fc1['baseline']:.4f}; "
          f"{summary['conv_layers_lower']}/{summary['conv_layers']} conv layers lower")
    return 0


if __name__ == "__main__":
    run_main(main)
