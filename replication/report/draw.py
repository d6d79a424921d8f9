"""The report's figures drawn from the results: which figure, from which stages' files (the captions name
them), with which networks and presets."""


from __future__ import annotations

import itertools
from pathlib import Path

from replication.analysis.fidelity import original_reached
from replication.analysis.results import Results
from replication.analysis.seed_groups import SeedGroup, analysed_targets, single_runs
from replication.core import registry as layout
from replication.report import figures
from replication.report import settings as cfg


class _Figures:
    """Figures drawn into one folder: figure key -> path relative to the report, and figure key -> the
    (stage, result file) pairs it is drawn from."""

    def __init__(self, params: cfg.Params, folder: Path):
        self.params, self.folder = params, folder
        self.paths: dict[str, str] = {}
        self.sources: dict[str, list] = {}

    def trained(self, runs: list[str], path=layout.history) -> list[tuple[str, str]]:
        return [(layout.TRAIN.stage(r), str(path(r))) for r in runs]

    def smoothed(self, names: list[str]) -> list[tuple[str, str]]:
        sm = self.params.smoothness
        return [(layout.SMOOTHNESS.stage(sm.lead, t), str(layout.alphas_json(sm.lead, t)))
                for t in dict.fromkeys(names)]

    def draw(self, key: str, made: list, function, *args, **kwargs) -> None:
        self.paths[key] = function(*args, layout.figure(self.folder, key), **kwargs)
        self.sources[key] = made


def draw_figures(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup], fidelity: list[dict],
                 folder: Path) -> tuple[dict[str, str], dict]:
    """Every figure of the report, drawn into `folder`: figure key -> path relative to the report, and
    figure key -> the (stage, result file) pairs it is drawn from."""
    figs = _Figures(params, folder)
    figures.NETWORKS = tuple(params.networks)  # one colour per network, the same in every figure
    _draw_runs_and_alphas(figs, params, results, orig, seeds)
    _draw_fidelity(figs, params, fidelity)
    return figs.paths, figs.sources


def _draw_runs_and_alphas(figs: _Figures, params: cfg.Params, results: Results, orig: dict,
                          seeds: list[SeedGroup]) -> None:
    """Training curves, confusions, alphas per layer, the mislabel, overfit, seed and retrain figures, and the
    estimator's diagnostics."""
    train_runs = single_runs(params)
    targets = list(params.smoothness.targets)
    # per-layer figures follow the lead preset: the targets it has analysed layer by layer
    main_targets = [t for t in params.report.main_targets if t in targets and results.has(t)] or [
        t for t in targets if results.has(t)][:4]
    other_targets = [t for t in analysed_targets(params) if t not in main_targets and results.has(t)]
    trained, smoothed, draw = figs.trained, figs.smoothed, figs.draw
    draw("curves", trained(train_runs), figures.fig_curves, params, results, train_runs, cols=5,
         orig_curves=orig["curves"])
    draw("alpha_main", smoothed(main_targets), figures.fig_alpha_dots, results, main_targets, seeds=seeds)
    draw("confusions", trained(train_runs, layout.train_metrics), figures.fig_confusions, results, train_runs,
         results.architectures["classes"])
    ml = params.mislabel
    draw("mislabel", [(layout.MISLABEL.stage(run, p, r), str(layout.mislabel(run, p, r)))
                      for run in ml.runs for p in ml.presets for r in ml.rates],
         figures.fig_mislabel, results, orig, params)
    if other_targets:
        draw("alpha_other", smoothed(other_targets), figures.fig_alpha_dots, results, other_targets, seeds=seeds)
    ov = params.overfit
    overlays = {**params.report.overlays, "overfit_alpha": {ov.baseline: ov.run}}
    for key, by_first in overlays.items():
        pairs = [(a, b) for a, b in by_first.items() if results.has(a) and results.has(b)]  # both under the lead
        if not pairs:
            continue
        made = smoothed([t for pair in pairs for t in pair])
        if key == "overfit_alpha":
            made.append((layout.OVERFIT.stage(), str(layout.OVERFIT_FILE)))
        draw(key, made, figures.fig_overlay, results, list(pairs), seeds=seeds)
    draw("overfit_curve", trained([ov.run, ov.baseline]), figures.fig_curves, params, results, [ov.run, ov.baseline],
         cols=2, orig_curves=orig["curves"])
    if params.seed_groups:
        panels = seed_panels(params, results)
        if panels:
            made = [(layout.SMOOTHNESS.stage(p, r), str(layout.alphas_json(p, r))) for p, runs in panels.values()
                    for r in runs]
            draw("seeds", made, figures.fig_seeds, results, panels, params.smoothness.lead)
        compared = {g: runs for g, runs in params.seed_groups.items() if g in params.claims.converge}
        curve_runs = [r for runs in compared.values() for r in runs]
        if curve_runs:
            draw("seed_curves", trained(curve_runs), figures.fig_curves, params, results, curve_runs,
                 cols=max(len(r) for r in compared.values()))
    if results.retrain:
        made = [(layout.RETRAIN.stage(r), str(layout.retrain_dir(r) / "result.json")) for r in results.retrain]
        draw("retrain", made, figures.fig_retrain, results, params.mislabel.run, params.mislabel.retrain_preset)
    diag = [t for t in main_targets if params.smoothness.targets[t].weights == "final"][:2] or main_targets[:1]
    draw("diagnostics", smoothed(diag) + [(layout.SMOOTHNESS_INPUT.stage(params.smoothness.lead),
                                           str(layout.input_alpha(params.smoothness.lead)))],
         figures.fig_diagnostics, results, diag)


def seed_panels(params: cfg.Params, results: Results) -> dict[str, tuple[str, list[str]]]:
    """Seed group -> the preset its per-layer spread is drawn under and the runs with every layer there: the lead
    where two or more of the group's seeds have every layer under it, else the first other preset that has them;
    groups with no such preset are left out (their seeds have the last layer only)."""
    panels = {}
    for group, runs in params.seed_groups.items():
        for preset in params.smoothness.ordered:
            layered = [r for r in runs if results.has(r, preset) and len(results.layers(r, preset)) > 1]
            if len(layered) >= 2:
                panels[group] = (preset, layered)
                break
    return panels


def preset_markers(sm: cfg.SmoothnessConfig) -> dict[str, str]:
    """A marker for every preset but the lead (drawn as dots): the original's estimator a cross, the others in turn
    a diamond, a square, a triangle..."""
    others = [p for p in sm.presets if p != sm.lead]
    return {sm.original: "x", **dict(zip(others, itertools.cycle("Ds^v<>"), strict=False))}


def _draw_fidelity(figs: _Figures, params: cfg.Params, fidelity: list[dict]) -> None:
    """Every layer against the original's: networks the original's own estimator reached get large panels (three
    a row from the third on), the rest share a grid of small ones."""
    original = original_reached(params, fidelity)
    wide = len(original) > 2
    for key, group, layout_kw in (("fidelity_original", original,
                                   {"cols": 3 if wide else len(original), "height": 2.6 if wide else 3.3, "big": True}),
                                  ("fidelity", [f for f in fidelity if f not in original], {})):
        if group:
            others = [(layout.SMOOTHNESS.stage(p, f["target"]), str(layout.alphas_json(p, f["target"])))
                      for f in group for p in f.get("presets", {})]
            figs.draw(key, figs.smoothed([f["target"] for f in group]) + others, figures.fig_fidelity, group,
                      markers=preset_markers(params.smoothness),
                      **layout_kw)

