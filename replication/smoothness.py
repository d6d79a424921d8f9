"""Stages smoothness@PRESET-TARGET and smoothness_original@TARGET (and their input layer's, smoothness_input@PRESET
and smoothness_original_input): the Besov alpha of every layer's representation of one trained network under one
estimator preset.

    python -m replication.smoothness PRESET TARGET   # writes results/smoothness/PRESET/TARGET/
    python -m replication.smoothness PRESET --input  # writes results/smoothness/PRESET/input.json

The input layer does not depend on any network: it is computed once per preset and copied into every
target's table.
"""

from __future__ import annotations

import argparse
import time

from replication import checkpoint, cluster, dataset, features, layout, runtime, wavelets
from replication import config as cfg
from replication.errors import run_main
from replication.estimator import Estimator, estimator
from replication.files import exclusive, file_md5, write_csv, write_json
from replication.layerwise import LayerCheckpoint, layer_alpha, layer_alphas, resume_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.smoothness", description=__doc__.split("\n")[0])
    parser.add_argument("preset", help="one of smoothness.presets, or smoothness.original.preset")
    parser.add_argument("target", nargs="?", help="a key of smoothness.targets (of smoothness.original.targets "
                        "for the original preset)")
    parser.add_argument("--input", action="store_true", help="the input layer only, shared by every target")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    if args.input == (args.target is not None):
        parser.error("give a TARGET or --input, not both")

    params = cfg.load(args.params)
    sm = params.smoothness
    if args.preset not in sm.all_presets:
        raise cfg.ConfigError(f"{args.params}: preset {args.preset!r} is neither in smoothness.presets nor "
                              f"smoothness.original.preset ({', '.join(sm.all_presets)})")
    est = estimator(args.preset, sm.overrides)
    wavelets.default_jobs()  # a malformed $REPLICATION_JOBS is named here, before any work
    cluster.connect()  # a named scheduler that cannot be reached stops the stage here, before any work
    if args.input:
        run_input(params, args.preset, est)
    else:
        run_target(params, args.preset, args.target, est, args.params)
    return 0


def run_input(params: cfg.Params, preset: str, est: Estimator) -> None:
    """Stage smoothness_input@PRESET (or smoothness_original_input): the input layer's row, shared by every target
    of the preset."""
    runtime.setup(params.base)
    images, labels = dataset.training_images(params.data, params.smoothness.limit_samples)
    started = time.perf_counter()
    row = layer_alpha(features.input_layer(images), labels, est, 0, "input", wavelets.default_jobs(), name=preset)
    write_json(layout.input_alpha(preset), {"preset": preset, "estimator": est.model_dump(),
                                            "n_samples": len(labels), "row": layout.without_seconds(row)})
    runtime.write_timing(layout.input_timing(preset), seconds=row["seconds"])
    print(f"input ({preset}): alpha {row['alpha']:.4f} ({time.perf_counter() - started:.0f} s)")


def run_target(params: cfg.Params, preset: str, name: str, est: Estimator, params_file: str = "params.yaml") -> None:
    """Stage smoothness@PRESET-NAME (or smoothness_original@NAME): every layer of one target, resumable by layer. The
    stage's lock is taken before any work, so a second run (or a lock that is a link) stops at once."""
    sm = params.smoothness
    targets = sm.targets_of(preset)
    if name not in targets:
        raise cfg.ConfigError(f"{params_file}: {name!r} is not a target of preset {preset!r} "
                              f"(its targets: {', '.join(targets) or 'none'})")
    label = f"{preset}-{name}"
    state = layout.resume_file("smoothness", label, ".json")
    with exclusive(state.with_name(state.name + ".lock"), sm.stage(preset, name)):
        _layers(params, preset, name, est, state, label)


def _layers(params: cfg.Params, preset: str, name: str, est: Estimator, state, label: str) -> None:
    """run_target's work, under the stage's lock."""
    sm = params.smoothness
    target = sm.targets_of(preset)[name]
    shared = layout.need(layout.input_alpha(preset), sm.input_stage(preset))
    device = runtime.setup(params.base)
    model = checkpoint.trained_network(params, target.run, target.weights, device)
    images, labels = dataset.training_images(params.data, sm.limit_samples)
    weights_md5 = file_md5(layout.weights(target.run, target.weights))
    pointer = layout.need(layout.target_file(name), f"target@{name}")
    if (pointer.get("run"), pointer.get("weights"), pointer.get("weights_md5")) != (target.run, target.weights,
                                                                                    weights_md5):
        raise cfg.ConfigError(f"{layout.target_file(name)} does not describe "
                              f"{layout.weights(target.run, target.weights)} as it is now: run `dvc repro "
                              f"target@{name}` first (it is what this stage's DVC dependency on the weights reads)")
    if shared["estimator"] != est.model_dump() or shared["n_samples"] != len(labels):
        raise cfg.ConfigError(f"{layout.input_alpha(preset)} was made with other estimator settings or "
                              f"samples: run `dvc repro {sm.input_stage(preset)}` first")

    key = resume_key(est.model_dump(), params.data.model_dump(), sm.limit_samples, weights_md5)
    resume = LayerCheckpoint(state, key, label)
    started = time.perf_counter()
    rows = layer_alphas(model, images, labels, est, wavelets.default_jobs(),
                        {**resume.done, "input": shared["row"]}, resume.save, name=label)
    write_json(layout.alphas_json(preset, name), {
        "target": name, "run": target.run, "weights": target.weights,
        "network": params.run_config(target.run).network, "preset": preset, "estimator": est.model_dump(),
        "n_samples": len(labels), "weights_md5": weights_md5,
        "layers": [{k: v for k, v in layout.without_seconds(row).items() if k != "curve"} for row in rows],
        "last_layer_curve": rows[-1]["curve"],
    })
    write_csv(layout.alphas_csv(preset, name), rows, layout.ALPHA_COLUMNS)
    runtime.write_timing(layout.smoothness_timing(preset, name),  # the input layer's is smoothness_input's
                         layers={row["layer"]: row["seconds"] for row in rows[1:]})
    resume.clear()
    summary = ", ".join(f"{r['layer']} {r['alpha']:.4f}" for r in rows)
    print(f"{label}: {summary} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    run_main(main)
