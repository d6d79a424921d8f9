"""Every result of a finished pipeline as tidy tables: what the claims, the figures, the metrics and the report read.

Three tables carry the numbers, one row per observation, read by column name:

- `runs`: one row per training run (index `run`): network, seed, test accuracy, precision, recall, restored
  epoch, epochs run, the epoch-`snapshot_epoch` snapshot's accuracy;
- `alphas`: one row per estimator preset, smoothness target and layer, in depth order: preset, target, run,
  weights, network, position (0 = input), layer, alpha, r2, intercept (of the log-log line);
- `mislabel`: one row per run of mislabel.runs, preset and rate: alpha mean, sd, min and max over the
  shuffle seeds, and the fraction of labels changed;
- `last_layer`: one row per smoothness target: the last layer's alpha and R^2 under the original's estimator
  (smoothness.original: its stages give every target's last layer, seeds and snapshots included).

What is not a table stays as read: each run's metrics file (confusion matrix, snapshot), histories, the
smoothness files' estimator and curves, the mislabel forests' curves, inputs, retrain, overfit, suggestions,
and the stages' wall times (timings/, read by the report's compute table alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from replication.analysis import settings as cfg
from replication.core import registry as layout
from replication.core.files import read_json

RUN_COLUMNS = ("test_accuracy", "macro_precision", "macro_recall", "restored_epoch", "epochs_run")
LAYER_COLUMNS = ("alpha", "r2", "intercept")
MISLABEL_COLUMNS = ("alpha_mean", "alpha_std", "alpha_min", "alpha_max", "changed_mean")


def short_layer(layer: str) -> str:
    """A probe point's layer name without its suffix (conv3+identity_relu -> conv3), shared by a ResNet and
    the plain network of the same depth."""
    return layer.split("+")[0].split("_")[0]


@dataclass(frozen=True)
class Results:
    """The gathered results; `main` is the estimator preset that `layers`, `targets` and `fc1` read by default."""
    main: str
    runs: pd.DataFrame
    alphas: pd.DataFrame
    mislabel: pd.DataFrame
    last_layer: pd.DataFrame = field(default_factory=lambda: last_layer_rows({}))
    metrics: dict[str, dict] = field(default_factory=dict)  # run -> its metrics.json
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)  # run -> epoch, train_loss, val_loss, ...
    files: dict[tuple[str, str], dict] = field(default_factory=dict)  # (preset, target) -> alphas.json sans layers
    mislabel_curves: dict[tuple[str, str, float], list] = field(default_factory=dict)  # (run, preset, rate) -> per
    # shuffle seed, the forest's error against the number of wavelets
    inputs: dict[str, dict] = field(default_factory=dict)
    retrain: dict = field(default_factory=dict)
    overfit: dict = field(default_factory=dict)
    suggestions: dict = field(default_factory=dict)
    architectures: dict = field(default_factory=dict)
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)  # preset -> its targets not computed yet
    timings: pd.DataFrame = field(default_factory=lambda: timing_rows([], Path(".")))  # one row per stage: family,
    # stage, ran, seconds (NaN where not recorded), cpu (None where not recorded)

    def of(self, preset: str) -> Results:
        """These results as if `preset` were the main estimator: its alphas, and the mislabel study's rows
        under it alone."""
        return replace(self, main=preset, mislabel=self.mislabel[self.mislabel.preset == preset])

    def drops(self, target: str) -> list[dict]:
        """The suggest stage's falls of alpha along `target`'s layers under the main preset ([] where it has none)."""
        return self.suggestions.get(target, {}).get("drops", {}).get(self.main, [])

    def preset_rows(self, preset: str | None = None) -> pd.DataFrame:
        """The alphas table's rows under `preset` (the main one by default)."""
        return self.alphas[self.alphas.preset == (preset or self.main)]

    def targets(self, preset: str | None = None) -> list[str]:
        """The targets with alphas under `preset` (the main one by default), in the order of params.yaml."""
        return list(dict.fromkeys(self.preset_rows(preset).target))

    def has(self, target: str, preset: str | None = None) -> bool:
        return target in self.targets(preset)

    def landed(self, targets: list[str], have: Iterable[str] | None = None) -> list[str] | None:
        """Those of `targets` that have what a claim reads (`have`; by default the targets with alphas under the
        main preset); None while one of the others is still to be computed (a costly preset lands network by
        network: a claim judged on the networks done so far could change its verdict when the rest land)."""
        have = set(self.targets() if have is None else have)
        if set(targets) & (set(self.pending.get(self.main, ())) - have):
            return None
        return [t for t in targets if t in have]

    def layers(self, target: str, preset: str | None = None) -> pd.DataFrame:
        """One target's rows, input first."""
        return self.layers_of([target], preset)

    def layers_of(self, targets: list[str], preset: str | None = None) -> pd.DataFrame:
        """The rows of several targets."""
        table = self.preset_rows(preset)
        return table[table.target.isin(targets)]

    def alpha(self, target: str, preset: str | None = None) -> list[float]:
        return self.layers(target, preset).alpha.tolist()

    def network(self, target: str) -> str:
        return self.alphas.network[self.alphas.target == target].iloc[0]

    def fc1(self, preset: str | None = None) -> dict[str, float]:
        """target -> the last layer's alpha; under the original's estimator (smoothness.original), every target's
        (seeds and snapshots included: its stages give the last layer where they do not give every layer)."""
        preset = preset or self.main
        if len(self.last_layer) and (self.last_layer.preset == preset).all():
            return self.last_layer.alpha.to_dict()
        return {t: rows.alpha.iloc[-1] for t, rows in self.preset_rows(preset).groupby("target", sort=False)}

    def file(self, target: str, preset: str | None = None) -> dict:
        """A smoothness file's fields other than its layers (estimator, n_samples, last_layer_curve, ...)."""
        return self.files[(preset or self.main, target)]

    def mislabel_runs(self, preset: str) -> dict[str, list[dict]]:
        """run -> its rows under `preset`, by rate (mislabel.runs order)."""
        table = self.mislabel[self.mislabel.preset == preset]
        return {run: rows.to_dict("records") for run, rows in table.groupby("run", sort=False)}


def run_rows(metrics: dict[str, dict], params: cfg.Params) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [{"run": run, "network": m["network"], "seed": params.runs[run].seed, **{k: m[k] for k in RUN_COLUMNS},
          "snapshot_accuracy": m["snapshot"]["test_accuracy"]} for run, m in metrics.items()],
        columns=["run", "network", "seed", *RUN_COLUMNS, "snapshot_accuracy"]).set_index("run", drop=False)


def alpha_rows(files: dict[tuple[str, str], dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [{"preset": preset, "target": target, "run": a["run"], "weights": a["weights"], "network": a["network"],
          "position": i, "layer": row["layer"], **{k: row[k] for k in LAYER_COLUMNS}}
         for (preset, target), a in files.items() for i, row in enumerate(a["layers"])],
        columns=["preset", "target", "run", "weights", "network", "position", "layer", *LAYER_COLUMNS])


def mislabel_rows(found: dict[tuple[str, str, float], dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [{"run": run, "preset": preset, "rate": rate, **{k: r[k] for k in MISLABEL_COLUMNS}}
         for (run, preset, rate), r in found.items()], columns=["run", "preset", "rate", *MISLABEL_COLUMNS])


def last_layer_rows(found: dict[str, dict]) -> pd.DataFrame:
    """One row per target from its smoothness file's last layer."""
    return pd.DataFrame.from_records(
        [{"target": t, "run": r["run"], "weights": r["weights"], "network": r["network"], "preset": r["preset"],
          "layer": r["layers"][-1]["layer"], "alpha": r["layers"][-1]["alpha"], "r2": r["layers"][-1]["r2"]}
         for t, r in found.items()],
        columns=["target", "run", "weights", "network", "preset", "layer", "alpha", "r2"]
    ).set_index("target", drop=False)


def alpha_drops(layers: list[tuple[str, float]], min_drop: float = 0.0) -> list[dict]:
    """Layers whose alpha is lower than the previous layer's by more than `min_drop`, in order (the original's
    reason to delete a layer)."""
    drops = []
    for (prev, before), (layer, alpha) in zip(layers, layers[1:], strict=False):
        if before - alpha > min_drop:
            drops.append({
                "layer": layer, "previous": prev, "alpha": alpha, "previous_alpha": before,
                "drop": before - alpha, "relative_drop": (before - alpha) / before if before else 0.0,
            })
    return drops


def with_drops(suggestions: dict, files: dict[tuple[str, str], dict], params: cfg.Params) -> dict:
    """The suggest stage's record with each target's alpha drops under every preset that analyses every layer
    of every target (a preset that covers a few networks in full judges no pruning)."""
    sm = params.smoothness
    full = [p for p in sm.presets if len(sm.every_layer(p)) == len(sm.targets)]
    return {target: {**s, "drops": {p: alpha_drops([(r["layer"], r["alpha"]) for r in files[(p, target)]["layers"]],
                                                   params.suggest.min_drop)
                                    for p in full if (p, target) in files}}
            for target, s in suggestions.items()}


def history_table(rows: list[dict]) -> pd.DataFrame:
    """A history.csv as numbers (Python's own float parsing: the values are the file's, bit for bit)."""
    return pd.DataFrame({key: [int(r[key]) if key == "epoch" else float(r[key]) for r in rows] for key in rows[0]})


def timing_files(params: cfg.Params) -> list[tuple[str, str, Path]]:
    """(family, stage, timing file) of every stage that records one; a family is a stage name's part before
    '@', with the estimator preset for the smoothness stages."""
    sm, ml = params.smoothness, params.mislabel
    files = [("train", layout.TRAIN.stage(run), layout.train_timing(run)) for run in params.runs]
    for preset in sm.ordered:
        files.append(("smoothness_input", layout.SMOOTHNESS_INPUT.stage(preset), layout.input_timing(preset)))
        every = sm.every_layer(preset)
        files += [(f"smoothness ({preset})" if t in every else f"smoothness ({preset}, last layer)",
                   layout.SMOOTHNESS.stage(preset, t), layout.smoothness_timing(preset, t)) for t in sm.targets]
    files += [("mislabel", layout.MISLABEL.stage(run, preset, rate), layout.mislabel_timing(run, preset, rate))
              for run in ml.runs for preset in ml.presets for rate in ml.rates]
    files += [("retrain", layout.RETRAIN.stage(rate), layout.retrain_timing(rate)) for rate in ml.retrain]
    return files


def timing_rows(files: list[tuple[str, str, Path]], root: Path) -> pd.DataFrame:
    """One row per stage: whether it has run (its timing file exists), its wall seconds (a file's `seconds`, else
    the sum over its layers) and processor, NaN and None where the stage recorded none."""
    rows = []
    for family, stage, path in files:
        timing = read_json(root / path) if (root / path).exists() else {}
        seconds = timing.get("seconds", sum(timing["layers"].values()) if "layers" in timing else None)
        seconds = float("nan") if seconds is None else seconds  # a stage that recorded none
        machine = timing.get("machine") or {}
        cpu = machine.get("cpu")
        if cpu and machine.get("cpu_id"):
            cpu += f" ({machine['cpu_id']}, {machine.get('simd') or 'no AVX'})"
        rows.append({"family": family, "stage": stage, "ran": bool(timing), "seconds": seconds, "cpu": cpu})
    return pd.DataFrame.from_records(rows, columns=["family", "stage", "ran", "seconds", "cpu"])


def not_computed(params: cfg.Params, preset: str, root: Path = Path(".")) -> tuple[str, ...]:
    """The targets of `preset` whose smoothness stage has not written its alphas yet."""
    every = params.smoothness.every_layer(preset)
    return tuple(t for t in every if not (root / layout.alphas_json(preset, t)).exists())


def gather(params: cfg.Params, root: Path = Path("."), histories: bool = True, retrain: bool = True,
           timings: bool = False) -> Results:
    """Every result; a missing one raises MissingResult naming the stage that makes it, except under the second
    and the costly preset, which hold the targets done so far. `histories` and `retrain` leave those out when
    False; `timings` reads the stages' wall times (those recorded)."""
    def need(path: Path, stage: str):
        return layout.need(path, stage, root)

    metrics = {name: need(layout.train_metrics(name), layout.TRAIN.stage(name)) for name in params.runs}
    sm = params.smoothness
    files = {}
    # the other presets are long runs that land over several sessions: what exists so far; the lead's must all exist
    pending = {p: waiting for p in sm.ordered if p != sm.lead and (waiting := not_computed(params, p, root))}
    for preset in sm.ordered:
        for t in sm.every_layer(preset):
            if t not in pending.get(preset, ()):
                files[(preset, t)] = need(layout.alphas_json(preset, t), layout.SMOOTHNESS.stage(preset, t))
    last = {t: files.get((sm.original, t)) or need(layout.alphas_json(sm.original, t),
                                                   layout.SMOOTHNESS.stage(sm.original, t))
            for t in sm.targets if t not in pending.get(sm.original, ())}
    ml = params.mislabel
    found = {(run, preset, rate): need(layout.mislabel(run, preset, rate), layout.MISLABEL.stage(run, preset, rate))
             for run in ml.runs for preset in ml.presets for rate in ml.rates}
    return Results(
        main=sm.lead, runs=run_rows(metrics, params), alphas=alpha_rows(files), mislabel=mislabel_rows(found),
        last_layer=last_layer_rows(last),
        metrics=metrics,
        pending=pending,
        histories={name: history_table(need(layout.history(name), layout.TRAIN.stage(name))) for name in params.runs}
        if histories else {},
        files={key: {k: v for k, v in a.items() if k != "layers"} for key, a in files.items()},
        mislabel_curves={key: r["seeds"] for key, r in found.items()},
        inputs={preset: layout.need(layout.input_alpha(preset), layout.SMOOTHNESS_INPUT.stage(preset), root)
                for preset in sm.ordered if (root / layout.input_alpha(preset)).exists()},
        retrain={rate: need(layout.retrain_dir(rate) / "result.json", layout.RETRAIN.stage(rate))
                 for rate in ml.retrain} if retrain else {},
        overfit=need(layout.OVERFIT_FILE, layout.OVERFIT.stage()),
        suggestions=with_drops(need(layout.SUGGESTIONS_FILE, layout.SUGGEST.stage()), files, params),
        timings=timing_rows(timing_files(params) if timings else [], root),
    )
