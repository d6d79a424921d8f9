"""Stage suggest: the report's smoothness-guided reasoning as a function.

The original deleted layers whose alpha drops relative to the layer before and widened early layers,
then trained the smaller networks. `alpha_drops` lists those drops; the stage writes them beside the
modified networks that were actually trained and their test accuracies.
"""

from __future__ import annotations

from pathlib import Path

from replication import cli
from replication import config as cfg
from replication.io import read_json, write_json

OUT = Path("results/suggestions.json")


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


def main() -> int:
    params = cfg.load()
    out = {}
    for target, runs in params.suggest.pairs.items():
        alphas = read_json(Path("results/smoothness") / target / "alphas.json")
        base_run = params.target(target).run
        base = read_json(Path("results/train") / base_run / "metrics.json")
        layers = [(row["layer"], row["alpha"]) for row in alphas["layers"]]
        out[target] = {
            "run": base_run,
            "test_accuracy": base["test_accuracy"],
            "params": base["params"],
            "drops": alpha_drops(layers, params.suggest.min_drop),
            "modified": [
                {"run": run, "network": params.run(run).network,
                 "title": params.network(params.run(run).network).title,
                 "layers": list(params.network(params.run(run).network).layers),
                 **{k: read_json(Path("results/train") / run / "metrics.json")[k]
                    for k in ("test_accuracy", "params")}}
                for run in runs
            ],
        }
    write_json(OUT, out)
    for target, info in out.items():
        dropped = ", ".join(f"{d['layer']} (-{d['drop']:.4f})" for d in info["drops"]) or "none"
        print(f"{target}: alpha falls at {dropped}")
    return 0


if __name__ == "__main__":
    cli.main(main)
