"""Stage overfit: the 100-epoch ResNet12 against the early-stopped one.

The long run is train@<overfit.run> (the training code with `stopping: none`) and its alphas are
smoothness@<overfit.run>; this stage gathers them beside the baseline's into one comparison.
"""

from __future__ import annotations

from replication import config as cfg
from replication import layout
from replication.errors import run_main
from replication.files import write_json


def compare(long_alphas: list[dict], base_alphas: list[dict]) -> list[dict]:
    """Per layer: alpha of both networks and their difference (long minus early-stopped)."""
    base = {row["layer"]: row["alpha"] for row in base_alphas}
    return [
        {"layer": row["layer"], "overfit": row["alpha"], "baseline": base.get(row["layer"]),
         "difference": row["alpha"] - base[row["layer"]] if row["layer"] in base else None}
        for row in long_alphas
    ]


def main() -> int:
    params = cfg.load()
    long_run, baseline = params.overfit.run, params.overfit.baseline
    base_run = baseline
    long_metrics = layout.need(layout.train_metrics(long_run), f"train@{long_run}")
    base_metrics = layout.need(layout.train_metrics(base_run), f"train@{base_run}")
    history = layout.need(layout.history(long_run), f"train@{long_run}")
    layers = compare(layout.need(layout.alphas_json(long_run), f"smoothness@{long_run}")["layers"],
                     layout.need(layout.alphas_json(baseline), f"smoothness@{baseline}")["layers"])
    best = min(history, key=lambda h: float(h["val_loss"]))
    conv = [row for row in layers if row["layer"].startswith("conv") and row["difference"] is not None]
    summary = {
        "run": long_run, "baseline_run": base_run,
        "epochs": long_metrics["epochs_run"],
        "test_accuracy": long_metrics["test_accuracy"], "baseline_test_accuracy": base_metrics["test_accuracy"],
        "final_val_loss": float(history[-1]["val_loss"]), "final_train_loss": float(history[-1]["train_loss"]),
        "min_val_loss": float(best["val_loss"]), "min_val_epoch": int(best["epoch"]),
        "conv_layers_lower": sum(row["difference"] < 0 for row in conv), "conv_layers": len(conv),
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
