"""Every result of a finished pipeline, read into one dict: what the report and the metrics stage show."""

from __future__ import annotations

from pathlib import Path

from replication import config as cfg
from replication import layout


def gather(params: cfg.Params, root: Path = Path("."), histories: bool = True, retrain: bool = True) -> dict:
    """Results keyed by kind (runs, alphas, mislabel, retrain, overfit, suggestions); a missing one raises
    MissingResult naming the stage that makes it. `histories` and `retrain` leave those out when False."""
    def need(path: Path, stage: str):
        return layout.need(path, stage, root)

    runs = {}
    for name in params.runs:
        runs[name] = {"metrics": need(layout.train_metrics(name), f"train@{name}")}
        if histories:
            runs[name]["history"] = need(layout.history(name), f"train@{name}")
    return {
        "runs": runs,
        "alphas": {t: need(layout.alphas_json(t), f"smoothness@{t}") for t in params.smoothness.targets},
        "mislabel": {preset: [need(layout.mislabel(preset, rate), f"mislabel@{preset}-{rate}")
                              for rate in params.mislabel.rates]
                     for preset in params.mislabel.presets},
        "retrain": {rate: need(layout.retrain_dir(rate) / "result.json", f"retrain@{rate}")
                    for rate in params.mislabel.retrain} if retrain else {},
        "overfit": need(layout.OVERFIT, "overfit"),
        "suggestions": need(layout.SUGGESTIONS, "suggest"),
    }
