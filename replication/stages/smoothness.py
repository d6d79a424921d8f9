"""Stages smoothness@PRESET-TARGET and smoothness_input@PRESET: the Besov alpha of a trained network's layer
representations under one estimator preset of params.yaml (smoothness.presets).

    python -m replication.stages.smoothness PRESET TARGET   # writes results/smoothness/PRESET/TARGET/
    python -m replication.stages.smoothness PRESET --input  # writes results/smoothness/PRESET/input.json

Every layer of the targets the preset lists (all targets by default), resumable layer by layer; on the others
the last layer alone, the number the original compared networks by (seconds: it has 10 features). The input
layer does not depend on any network: it is computed once per preset and copied into every full table.
"""

from __future__ import annotations

import argparse
import time

from replication.core import registry as layout
from replication.core import runtime
from replication.core.errors import run_main
from replication.core.files import exclusive, file_md5, write_csv, write_json
from replication.estimator import cluster, wavelets
from replication.estimator import settings as cfg
from replication.estimator.layerwise import LayerCheckpoint, layer_alpha, layer_alphas, resume_key
from replication.estimator.settings import Estimator
from replication.networks import checkpoint, dataset, features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.stages.smoothness",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("preset", help="a key of smoothness.presets")
    parser.add_argument("target", nargs="?", help="a key of smoothness.targets")
    parser.add_argument("--input", action="store_true", help="the input layer only, shared by every target")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    if args.input == (args.target is not None):
        parser.error("give a TARGET or --input, not both")

    params = cfg.load(args.params)
    sm = params.smoothness
    if args.preset not in sm.presets:
        raise cfg.ConfigError(f"{args.params}: preset {args.preset!r} is not in smoothness.presets "
                              f"({', '.join(sm.presets)})")
    est = sm.estimator(args.preset)
    wavelets.default_jobs()  # a malformed $REPLICATION_JOBS is named here, before any work
    cluster.connect()  # a named scheduler that cannot be reached stops the stage here, before any work
    if args.input:
        run_input(params, args.preset, est)
    else:
        run_target(params, args.preset, args.target, est)
    return 0


def run_input(params: cfg.Params, preset: str, est: Estimator) -> None:
    """Stage smoothness_input@PRESET: the input layer's row, shared by every target of the preset."""
    runtime.setup(params.base)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    started = time.perf_counter()
    row = layer_alpha(features.input_layer(images), labels, est, 0, "input", wavelets.default_jobs(), name=preset)
    write_json(layout.input_alpha(preset), {"preset": preset, "estimator": est.model_dump(),
                                            "n_samples": len(labels), "row": layout.without_seconds(row)})
    runtime.write_timing(layout.input_timing(preset), seconds=row["seconds"])
    print(f"input ({preset}): alpha {row['alpha']:.4f} ({time.perf_counter() - started:.0f} s)")


def run_target(params: cfg.Params, preset: str, name: str, est: Estimator) -> None:
    """Stage smoothness@PRESET-NAME: every layer of one target (or its last, where the preset does not list it),
    resumable by layer. The stage's lock is taken before any work, so a second run (or a lock that is a link)
    stops at once."""
    params.target_config(name)  # an unknown target is named before any work
    label = f"{preset}-{name}"
    state = layout.resume_file("smoothness", label, ".json")
    with exclusive(state.with_name(state.name + ".lock"), layout.SMOOTHNESS.stage(preset, name)):
        _layers(params, preset, name, est, state, label)


def _inputs(params: cfg.Params, name: str):
    """The target's network, the training images and labels, and its weights' md5 (checked against target@NAME's
    record, which is what the stage's DVC dependency on the weights reads)."""
    target = params.target_config(name)
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, target.run, target.weights, device)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    weights_md5 = file_md5(layout.weights(target.run, target.weights))
    pointer = layout.need(layout.target_file(name), layout.TARGET.stage(name))
    if (pointer.get("run"), pointer.get("weights"), pointer.get("weights_md5")) != (target.run, target.weights,
                                                                                    weights_md5):
        raise cfg.ConfigError(f"{layout.target_file(name)} does not describe "
                              f"{layout.weights(target.run, target.weights)} as it is now: run `dvc repro "
                              f"{layout.TARGET.stage(name)}` first")
    return model, images, labels, weights_md5


def _layers(params: cfg.Params, preset: str, name: str, est: Estimator, state, label: str) -> None:
    """run_target's work, under the stage's lock."""
    sm = params.smoothness
    every = name in sm.every_layer(preset)
    if every:  # a missing input layer is named before the network and the data load
        shared = layout.need(layout.input_alpha(preset), layout.SMOOTHNESS_INPUT.stage(preset))
    model, images, labels, weights_md5 = _inputs(params, name)
    started = time.perf_counter()
    if every:
        if shared["estimator"] != est.model_dump() or shared["n_samples"] != len(labels):
            raise cfg.ConfigError(f"{layout.input_alpha(preset)} was made with other estimator settings or "
                                  f"samples: run `dvc repro {layout.SMOOTHNESS_INPUT.stage(preset)}` first")
        key = resume_key(est.model_dump(), params.data.model_dump(), sm.limit_samples, weights_md5)
        resume = LayerCheckpoint(state, key, label)
        rows = layer_alphas(model, images, labels, est, wavelets.default_jobs(),
                            {**resume.done, "input": shared["row"]}, resume.save, name=label)
    else:
        layers = features.layer_names(model)
        rep = features.representation(model, images, layers[-1])
        rows = [layer_alpha(rep, labels, est, len(layers) - 1, layers[-1], wavelets.default_jobs(), name=label)]
    target = params.target_config(name)
    write_json(layout.alphas_json(preset, name), {
        "target": name, "run": target.run, "weights": target.weights,
        "network": params.run_config(target.run).network, "preset": preset, "estimator": est.model_dump(),
        "n_samples": len(labels), "weights_md5": weights_md5,
        "layers": [{k: v for k, v in layout.without_seconds(row).items() if k != "curve"} for row in rows],
        "last_layer_curve": rows[-1]["curve"],
    })
    write_csv(layout.alphas_csv(preset, name), rows, layout.ALPHA_COLUMNS)
    runtime.write_timing(layout.smoothness_timing(preset, name),  # the input layer's is smoothness_input's
                         layers={row["layer"]: row["seconds"] for row in rows if row["layer"] != "input"})
    if every:
        resume.clear()
    summary = ", ".join(f"{r['layer']} {r['alpha']:.4f}" for r in rows)
    print(f"{label}: {summary} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    run_main(main)
