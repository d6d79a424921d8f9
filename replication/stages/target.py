"""Stage target@TARGET: which weights a smoothness target names, and their md5.

A smoothness stage runs per estimator preset and target (a DVC matrix), and DVC cannot look the target's run
and weights up from its name to list the weights file as a dependency; it depends on this small file instead,
which changes exactly when those weights do (this stage depends on them). The smoothness stage checks that the
weights it loads still have this md5.

    python -m replication.stages.target TARGET     # writes results/targets/TARGET.json
"""

from __future__ import annotations

import argparse

from replication.core import registry as layout
from replication.core.errors import MissingResult, run_main
from replication.core.files import file_md5, write_json
from replication.estimator import settings as cfg


def pointer(params: cfg.Params, name: str) -> dict:
    """What results/targets/NAME.json holds for the weights on disk now."""
    target = params.target_config(name)
    path = layout.weights(target.run, target.weights)
    if not path.exists():
        raise MissingResult(f"{path} is missing: run `dvc repro {layout.TRAIN.stage(target.run)}` first")
    return {"target": name, "run": target.run, "weights": target.weights, "weights_md5": file_md5(path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.stages.target", description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a key of smoothness.targets")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    found = pointer(cfg.load(args.params), args.target)
    write_json(layout.target_file(args.target), found)
    print(f"{args.target}: {layout.weights(found['run'], found['weights'])} md5 {found['weights_md5']}")
    return 0


if __name__ == "__main__":
    run_main(main)
