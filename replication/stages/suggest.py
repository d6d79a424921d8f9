"""Stage suggest: the networks the original derived from a smoothness target, as trained here.

The original deleted layers whose alpha drops relative to the layer before and widened early layers,
then trained the smaller networks. This stage records, for each target of suggest.derived, its run and
the modified networks that were actually trained, with their layers and test accuracies; the drops
themselves are read off the alphas where they are judged (replication/analysis/results.py, alpha_drops), so
this stage reads no estimator setting.
"""

from __future__ import annotations

from replication.analysis import settings as cfg
from replication.core import registry as layout
from replication.core.errors import run_main
from replication.core.files import write_json


def modified(params: cfg.Params, run: str) -> dict:
    """A modified network that was trained: its layers and test accuracy."""
    network = params.run_config(run).network
    metrics = layout.need(layout.train_metrics(run), layout.TRAIN.stage(run))
    return {"run": run, "network": network, "layers": list(params.network_config(network).layers),
            "test_accuracy": metrics["test_accuracy"], "params": metrics["params"]}


def main() -> int:
    params = cfg.load()
    out = {}
    for target, runs in params.suggest.pairs.items():
        base_run = params.target_config(target).run
        base = layout.need(layout.train_metrics(base_run), layout.TRAIN.stage(base_run))
        out[target] = {
            "run": base_run,
            "test_accuracy": base["test_accuracy"],
            "params": base["params"],
            "modified": [modified(params, run) for run in runs],
        }
    write_json(layout.SUGGESTIONS_FILE, out)
    for target, info in out.items():
        print(f"{target}: {', '.join(m['run'] for m in info['modified'])} derived from it")
    return 0


if __name__ == "__main__":
    run_main(main)
