"""Stage smoothness@TARGET: the Besov alpha of every layer's representation of one trained network.

    python -m replication.smoothness TARGET    # writes results/smoothness/TARGET/
"""

from __future__ import annotations

import argparse
import time

from replication import config as cfg
from replication import dataset, layout, runtime, training, wavelets
from replication.errors import run_main
from replication.estimator import estimator
from replication.files import exclusive, file_md5, write_csv, write_json
from replication.layerwise import LayerCheckpoint, layer_alphas, resume_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.smoothness", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a key of smoothness.targets in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    target = params.target_config(args.target)
    sm = params.smoothness
    est = estimator(sm.preset, sm.overrides)
    device = runtime.setup(params.base)
    model = training.trained_network(params, target.run, target.weights, device)
    images, labels = dataset.training_images(params.data, sm.limit_samples)
    weights_md5 = file_md5(layout.weights(target.run, target.weights))

    key = resume_key(est.model_dump(), cfg.as_dict(params.data), sm.limit_samples, weights_md5)
    state = layout.resume_file("smoothness", args.target, ".json")
    with exclusive(state.with_name(state.name + ".lock"), f"smoothness@{args.target}"):
        checkpoint = LayerCheckpoint(state, key, args.target)
        started = time.perf_counter()
        rows = layer_alphas(model, images, labels, est, wavelets.default_jobs(), checkpoint.done, checkpoint.save,
                            name=args.target)
    write_json(layout.alphas_json(args.target), {
        "target": args.target, "run": target.run, "weights": target.weights,
        "network": params.run_config(target.run).network, "preset": sm.preset, "estimator": est.model_dump(),
        "n_samples": len(labels), "weights_md5": weights_md5,
        "layers": [{k: v for k, v in row.items() if k != "curve"} for row in rows],
        "last_layer_curve": rows[-1]["curve"],
    })
    write_csv(layout.alphas_csv(args.target), rows, layout.ALPHA_COLUMNS)
    checkpoint.clear()
    summary = ", ".join(f"{r['layer']} {r['alpha']:.4f}" for r in rows)
    print(f"{args.target}: {summary} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
