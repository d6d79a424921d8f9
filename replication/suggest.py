"""Stage suggest: the report's smoothness-guided reasoning as a function.

The original deleted layers whose alpha drops relative to the layer before and widened early layers,
then trained the smaller networks. `alpha_drops` lists those drops; the stage writes them beside the
modified networks that were actually trained and their test accuracies.
"""

from __future__ import annotations

from replication import config as cfg
from replication import layout
from replication.errors import run_main
from replication.files import write_json


def alpha_drops(layers: list[tuple[str, float]], min_drop: float = 0.0) -> list[dict]:
    """Layers whose alpha is lower than the previous layer's by more than `min_drop`, in order."""
    drops = []
    for (prev, before), (layer, alpha) in zip(layers, layers[1:], strict=False):
        if before - alpha > min_drop:
            drops.append({
                "layer": layer, "previous": prev, "alpha": alpha, "previous_alpha": before,
                "drop": before - alpha, "relative_drop": (before - alpha) / before if before else 0.0,
            })
    return drops


def modified(params: cfg.Params, run: str) -> dict:
    """A modified network that was trained: its layers and test accuracy."""
    network = params.run_config(run).network
    metrics = layout.need(layout.train_metrics(run), f"train@{run}")
    return {"run": run, "network": network, "layers": list(params.network_config(network).layers),
            "test_accuracy": metrics["test_accuracy"], "params": metrics["params"]}


def main() -> int:
    params = cfg.load()
    out = {}
    sm = params.smoothness
    for target, runs in params.suggest.pairs.items():
        drops = {}
        for preset in sm.presets:
            alphas = layout.need(layout.alphas_json(preset, target), sm.stage(preset, target))
            drops[preset] = alpha_drops([(row["layer"], row["alpha"]) for row in alphas["layers"]],
                                        params.suggest.min_drop)
        base_run = params.target_config(target).run
        base = layout.need(layout.train_metrics(base_run), f"train@{base_run}")
        out[target] = {
            "run": base_run,
            "test_accuracy": base["test_accuracy"],
            "params": base["params"],
            "drops": drops,  # per estimator preset
            "modified": [modified(params, run) for run in runs],
        }
    write_json(layout.SUGGESTIONS, out)
    for target, info in out.items():
        for preset, drops in info["drops"].items():
            dropped = ", ".join(f"{d['layer']} (-{d['drop']:.4f})" for d in drops) or "none"
            print(f"{target} ({preset}): alpha falls at {dropped}")
    return 0


if __name__ == "__main__":
    run_main(main)
