"""Hand-made results for the claims and fidelity tests: a short nested spec, turned into the tidy tables.

The spec names only what a test needs; every other column gets a neutral value:

    {"runs": {run: {"metrics": {"test_accuracy": .., "restored_epoch": .., "snapshot": {..}}}},
     "alphas": {target: {"layers": [{"layer": .., "alpha": ..}, ...]}},  # the main preset's
     "alphas_by_preset": {preset: {target: [...]}},                     # the others (optional)
     "mislabel": {preset: [{"alpha_mean": .., "alpha_std": ..}, ...]},  # the first of mislabel.runs, by rate
     "mislabel_seeds": {run: {preset: [...]}},
     "overfit": {..}, "suggestions": {..},
     "pending": {preset: (target, ...)},                                # targets whose stage has not run yet
     "last_layer": {target: alpha}}                       # the original's estimator's fc1 of every target (as_run)
"""

from __future__ import annotations

from replication.analysis.results import Results, alpha_rows, last_layer_rows, mislabel_rows, run_rows
from replication.report import settings as cfg


def _target(params: cfg.Params, target: str) -> dict:
    tc = params.smoothness.targets.get(target)
    run = tc.run if tc else target
    network = params.runs[run].network if run in params.runs else target
    return {"run": run, "weights": tc.weights if tc else "final", "network": network}


def results(params: cfg.Params, spec: dict, main: str | None = None) -> Results:
    main = main or params.smoothness.lead
    metrics = {run: {"network": params.runs[run].network if run in params.runs else run, "test_accuracy": 0.6,
                     "macro_precision": 0.6, "macro_recall": 0.6, "restored_epoch": 30, "epochs_run": 35,
                     "snapshot": {"test_accuracy": 0.5}, **r["metrics"]}
               for run, r in spec.get("runs", {}).items()}
    params = params.model_copy(update={"runs": {**params.runs, **{
        run: cfg.RunConfig(network="resnet12", seed=0) for run in metrics if run not in params.runs}}})
    by_preset = {main: spec.get("alphas", {}), **{p: a for p, a in spec.get("alphas_by_preset", {}).items()
                                                  if p != main}}
    files = {(preset, target): {**_target(params, target),
                                "layers": [{"r2": 0.9, "intercept": 0.0, **row} for row in a["layers"]]}
             for preset, alphas in by_preset.items() for target, a in alphas.items()}
    rates = params.mislabel.rates
    found = {}
    for run, by in [(params.mislabel.run, spec.get("mislabel", {})), *(
            (run, by) for run, by in spec.get("mislabel_seeds", {}).items())]:
        for preset, rows in by.items():
            for rate, row in zip(rates, rows, strict=False):
                found[(run, preset, rate)] = {"alpha_std": 0.0, "alpha_min": 0.0, "alpha_max": 0.0,
                                              "changed_mean": rate, **row}
    return Results(main=main, runs=run_rows(metrics, params), alphas=alpha_rows(files), mislabel=mislabel_rows(found),
                   metrics=metrics, overfit=spec.get("overfit", {}), suggestions=spec.get("suggestions", {}),
                   pending=spec.get("pending", {}),
                   last_layer=last_layer_rows({t: {**_target(params, t), "preset": params.smoothness.original,
                                                   "layers": [{"layer": "fc1", "alpha": a, "r2": 0.9}]}
                                               for t, a in spec.get("last_layer", {}).items()}))
