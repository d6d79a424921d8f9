"""Stage last_layer@TARGET: the last layer's alpha of one trained network under the original code's estimator
(smoothness.original.preset), for every target, seeds and snapshots included.

    python -m replication.last_layer TARGET   # writes results/last_layer/PRESET/TARGET.json

The original compared networks by their last layer's alpha; this gives that number under its own
estimator for every network here (seconds each: the last layer has 10 features), while the full per-layer
table under it (smoothness_original@TARGET, hours) covers only the networks the original analysed. On one
machine the two agree bit for bit (the same representation, forest and seed: Plain12, Plain6 and ResNet10
here); ResNet12's committed table gives fc1 0.11306 against 0.11323 here, a difference of the size another
processor's last bits make.
"""

from __future__ import annotations

import argparse
import time

from replication import checkpoint, dataset, features, layout, runtime, wavelets
from replication import config as cfg
from replication.errors import run_main
from replication.estimator import estimator
from replication.files import file_md5, write_json
from replication.layerwise import layer_alpha


def run(params: cfg.Params, name: str) -> dict:
    """The last layer's row of target `name` under smoothness.original.preset (the curve included)."""
    sm = params.smoothness
    target = params.target_config(name)
    preset = sm.original.preset
    est = estimator(preset, sm.overrides)
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, target.run, target.weights, device)
    images, labels = dataset.training_images(params.data, sm.limit_samples)
    layers = features.layer_names(model)
    rep = features.representation(model, images, layers[-1])
    row = layer_alpha(rep, labels, est, len(layers) - 1, layers[-1], wavelets.default_jobs(), name=f"{preset}-{name}")
    return {"target": name, "run": target.run, "weights": target.weights,
            "network": params.run_config(target.run).network, "preset": preset, "estimator": est.model_dump(),
            "n_samples": len(labels), "weights_md5": file_md5(layout.weights(target.run, target.weights)),
            "row": row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.last_layer", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a key of smoothness.targets")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = cfg.load(args.params)
    started = time.perf_counter()
    result = run(params, args.target)
    write_json(layout.last_layer(result["preset"], args.target),
               {**result, "row": layout.without_seconds(result["row"])})
    runtime.write_timing(layout.last_layer_timing(result["preset"], args.target), seconds=result["row"]["seconds"])
    print(f"{args.target}: {result['row']['layer']} alpha {result['row']['alpha']:.4f} under {result['preset']} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
