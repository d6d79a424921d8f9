"""Every result of a finished pipeline, read into one dict: what the report and the metrics stage show."""

from __future__ import annotations

from pathlib import Path

from replication import config as cfg
from replication import layout


def gather(params: cfg.Params, root: Path = Path("."), histories: bool = True, retrain: bool = True) -> dict:
    """Results keyed by kind (runs, alphas [main preset], alphas_by_preset, mislabel, retrain, overfit,
    suggestions); a missing one raises MissingResult naming the stage that makes it, except under the second
    and the costly preset, which hold the targets done so far. `histories` and `retrain` leave those out
    when False."""
    def need(path: Path, stage: str):
        return layout.need(path, stage, root)

    runs = {}
    for name in params.runs:
        runs[name] = {"metrics": need(layout.train_metrics(name), f"train@{name}")}
        if histories:
            runs[name]["history"] = need(layout.history(name), f"train@{name}")
    sm = params.smoothness
    # the other presets are long runs that land over several sessions: what exists so far
    by_preset = {preset: {t: layout.need(layout.alphas_json(preset, t), sm.stage(preset, t), root)
                          for t in sm.targets_of(preset) if (root / layout.alphas_json(preset, t)).exists()}
                 for preset in sm.presets[1:]}
    alphas = {t: need(layout.alphas_json(sm.preset, t), sm.stage(sm.preset, t)) for t in sm.targets}
    return {
        "runs": runs,
        "alphas": alphas,
        "alphas_by_preset": {sm.preset: alphas, **by_preset},
        "inputs": {preset: layout.need(layout.input_alpha(preset), f"smoothness_input@{preset}", root)
                   for preset in sm.presets if (root / layout.input_alpha(preset)).exists()},
        "mislabel": {preset: [need(layout.mislabel(preset, rate), f"mislabel@{preset}-{rate}")
                              for rate in params.mislabel.rates]
                     for preset in params.mislabel.presets},
        "mislabel_seeds": {run: {preset: [need(layout.mislabel_seed(run, preset, rate),
                                                f"mislabel_seeds@{run}-{preset}-{rate}")
                                           for rate in params.mislabel.rates]
                                 for preset in params.mislabel.presets}
                           for run in params.mislabel.seed_runs},
        "retrain": {rate: need(layout.retrain_dir(rate) / "result.json", f"retrain@{rate}")
                    for rate in params.mislabel.retrain} if retrain else {},
        "overfit": need(layout.OVERFIT, "overfit"),
        "suggestions": need(layout.SUGGESTIONS, "suggest"),
    }
