"""Stage report: gather every result, draw the figures, render HTML with Jinja2 and PDF with WeasyPrint.

Deterministic: no dates, host names or absolute paths; the same inputs give the same bytes. The
numbers and verdicts come from replication.claims, the figures from replication.figures.

    python -m replication.report      # writes report/index.html, report/report.pdf, report/figures/
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import jinja2
import numpy as np
import yaml

from replication import claims, figures, layout
from replication import config as cfg
from replication.errors import UserError, run_main
from replication.fidelity import fidelity_by_preset, noise, original_reached, summary_rows
from replication.files import atomic_path, exclusive, file_md5, recorded_md5, swap_in, write_json, write_text
from replication.originals import originals
from replication.results import Results, gather
from replication.seed_groups import SeedGroup, analysed_targets, mislabel_spread, seed_table, single_runs

OUT = layout.REPORT
TEMPLATES = Path("report_templates")
PACKAGES = ["torch", "torchvision", "numpy", "scikit-learn", "numba", "dvc", "matplotlib", "jinja2", "weasyprint",
            "pydantic"]


class ReportError(UserError):
    """A result the report needs is missing or inconsistent."""


# --------------------------------------------------------------------------- gathering


# --------------------------------------------------------------------------- rendering


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _signed(x, digits: int = 2, scale: float = 100.0) -> str:
    return "n/a" if x is None else f"{scale * x:+.{digits}f}"


def z_text(z: float | None) -> str:
    """z with two decimals, cut toward zero (1.996 prints 1.99, never the threshold 2.00 it has not reached)."""
    return "n/a" if z is None else f"{math.trunc(z * 100) / 100:+.2f}"


def claims_with(n: int, verdict: str) -> str:
    """'1 claim does not hold', '3 claims hold', '6 claims are within noise': a verdict as a sentence's verb."""
    plural = n != 1
    verb = {"holds": "hold" if plural else "holds", "does not hold": "do not hold" if plural else "does not hold"}
    phrase = verb.get(verdict, f"{'are' if plural else 'is'} {verdict}")
    return f"{n} {'claims' if plural else 'claim'} {phrase}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, num=_num, signed=_signed, z=z_text, thousands=lambda x: f"{x:,}",
                       pct0=lambda x: f"{100 * x:.0f}%", sources=compact_sources, claims_with=claims_with)
    return env


def compact_sources(made: list[tuple[str, str]], most: int = 12) -> dict:
    """A figure's (stage, result file) pairs for its caption: a stage group with more than `most` members
    is named once (`mislabel@*, 50 stages`, linked to their common folder) and rebuilt by its group
    name, which `dvc repro` accepts; fewer are listed one by one. `summary`: one short line for print
    (each group once, with its count)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for stage, path in made:
        groups.setdefault(stage.split("@")[0], []).append((stage, path))
    links, command = [], []
    for group, members in groups.items():
        if len(members) > most:
            folder = os.path.commonpath([path for _, path in members])
            links.append((f"{group}@* ({len(members)} stages)", folder))
            command.append(group)
        else:
            links += members
            command += [stage for stage, _ in members]
    summary = ", ".join(members[0][0] if len(members) == 1 else f"{group}@* ({len(members)})"
                        for group, members in groups.items())
    return {"links": links, "command": " ".join(command), "summary": summary}


def pinned_versions(constraints: Path) -> dict[str, str]:
    """Package -> version pinned in constraints.txt (the environment the results were made in)."""
    pins = {}
    if constraints.exists():
        for line in constraints.read_text().splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.startswith("#"):
                pins[name.strip().lower()] = version.strip()
    return pins


def git_state(root: Path = Path(".")) -> dict:
    """The commit the report is rendered from, whether tracked files differ from it, and the date of the
    last commit that changed results/ (None outside a git repository or before the first commit)."""
    def git(*args: str) -> str | None:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return out.stdout.rstrip() if out.returncode == 0 else None  # status lines start with a space

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None, "results_date": None}
    # the report's own outputs, and its own entry in dvc.lock (DVC rewrites it around the run), are this
    # render's doing: they do not count as a change
    changed = [line[3:] for line in (git("status", "--porcelain", "--untracked-files=no") or "").splitlines()
               if not line[3:].startswith(f"{layout.REPORT}/")]
    if "dvc.lock" in changed and lock_hash(root) == _lock_stages_md5(git("show", "HEAD:dvc.lock") or ""):
        changed.remove("dvc.lock")
    return {"commit": commit, "dirty": bool(changed),
            "results_date": git("log", "-1", "--format=%cs", "--", str(layout.RESULTS)) or None}


def lock_hash(root: Path = Path(".")) -> str | None:
    """md5 of dvc.lock's stages other than the report (whose entry records this render's outputs: it
    cannot be hashed by the render itself)."""
    path = root / "dvc.lock"
    return _lock_stages_md5(path.read_text()) if path.exists() else None


def _lock_stages_md5(text: str) -> str:
    stages = (yaml.safe_load(text) or {}).get("stages", {})
    stages.pop("report", None)
    return hashlib.md5(json.dumps(stages, sort_keys=True).encode()).hexdigest()


def provenance(params: cfg.Params, root: Path = Path(".")) -> dict:
    """Params, data hash, content hashes of every input file, pinned and installed package versions."""
    files = sorted(p for p in (root / layout.RESULTS).rglob("*") if p.is_file())
    pins = pinned_versions(root / "constraints.txt")
    versions = {}
    for pkg in PACKAGES:
        try:
            installed = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        pinned = pins.get(pkg.lower(), "not pinned")
        versions[pkg] = pinned if installed == pinned else f"{pinned} (rendered with {installed})"
    return {
        "params_yaml": (root / "params.yaml").read_text(),  # as committed, with its comments
        "data_hash": recorded_md5(root / "data.dvc"),
        "files": [{"path": p.relative_to(root).as_posix(), "md5": file_md5(p)} for p in files],
        "params_md5": file_md5(root / "params.yaml"),
        "lock_md5": lock_hash(root), **git_state(root),
        "constraints_md5": file_md5(root / "constraints.txt") if (root / "constraints.txt").exists() else None,
        "versions": versions,
    }


class _Figures:
    """Figures drawn into one folder: figure key -> path relative to the report, and figure key -> the
    (stage, result file) pairs it is drawn from."""

    def __init__(self, params: cfg.Params, folder: Path):
        self.params, self.folder = params, folder
        self.paths: dict[str, str] = {}
        self.sources: dict[str, list] = {}

    def trained(self, runs: list[str], path=layout.history) -> list[tuple[str, str]]:
        return [(f"train@{r}", str(path(r))) for r in runs]

    def smoothed(self, names: list[str]) -> list[tuple[str, str]]:
        sm = self.params.smoothness
        return [(sm.stage(sm.lead, t), str(layout.alphas_json(sm.lead, t))) for t in dict.fromkeys(names)]

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
    main_targets = [t for t in params.report.main_targets if t in targets] or targets[:4]
    other_targets = [t for t in analysed_targets(params) if t not in main_targets]
    trained, smoothed, draw = figs.trained, figs.smoothed, figs.draw
    draw("curves", trained(train_runs), figures.fig_curves, params, results, train_runs, cols=5,
         orig_curves=orig["curves"])
    draw("alpha_main", smoothed(main_targets), figures.fig_alpha_dots, results, main_targets, seeds=seeds)
    draw("confusions", trained(train_runs, layout.train_metrics), figures.fig_confusions, results, train_runs,
         results.architectures["classes"])
    ml = params.mislabel
    draw("mislabel", [(f"mislabel@{run}-{p}-{r}", str(layout.mislabel(run, p, r)))
                      for run in ml.runs for p in ml.presets for r in ml.rates],
         figures.fig_mislabel, results, orig, params)
    if other_targets:
        draw("alpha_other", smoothed(other_targets), figures.fig_alpha_dots, results, other_targets, seeds=seeds)
    ov = params.overfit
    overlays = {**params.report.overlays, "overfit_alpha": {ov.baseline: ov.run}}
    for key, by_first in overlays.items():
        pairs = list(by_first.items())
        made = smoothed([t for pair in pairs for t in pair])
        if key == "overfit_alpha":
            made.append(("overfit", str(layout.OVERFIT)))
        draw(key, made, figures.fig_overlay, results, list(pairs), seeds=seeds)
    draw("overfit_curve", trained([ov.run, ov.baseline]), figures.fig_curves, params, results, [ov.run, ov.baseline],
         cols=2, orig_curves=orig["curves"])
    if params.seed_groups:
        seed_runs = [r for runs in params.seed_groups.values() for r in runs]
        draw("seeds", smoothed([r for r in seed_runs if results.has(r)]), figures.fig_seeds, results,
             params.seed_groups)
        draw("seed_curves", trained(seed_runs), figures.fig_curves, params, results, seed_runs,
             cols=max(len(r) for r in params.seed_groups.values()))
    if results.retrain:
        draw("retrain", [(f"retrain@{r}", str(layout.retrain_dir(r) / "result.json")) for r in results.retrain],
             figures.fig_retrain, results, params.mislabel.run)
    diag = [t for t in main_targets if params.smoothness.targets[t].weights == "final"][:2] or main_targets[:1]
    draw("diagnostics", smoothed(diag) + [(params.smoothness.input_stage(params.smoothness.lead),
                                           str(layout.input_alpha(params.smoothness.lead)))],
         figures.fig_diagnostics, results, diag)


def preset_markers(sm: cfg.SmoothnessConfig) -> dict[str, str]:
    """A marker for every preset but the lead (drawn as dots): the original's estimator a cross, the others in turn
    a diamond, a square, a triangle..."""
    others = [p for p in sm.presets if p != sm.lead]
    return {sm.original.preset: "x", **dict(zip(others, itertools.cycle("Ds^v<>"), strict=False))}


def _draw_fidelity(figs: _Figures, params: cfg.Params, fidelity: list[dict]) -> None:
    """Every layer against the original's: networks the original's own estimator reached get large panels (three
    a row from the third on), the rest share a grid of small ones."""
    original = original_reached(params, fidelity)
    wide = len(original) > 2
    for key, group, layout_kw in (("fidelity_original", original,
                                   {"cols": 3 if wide else len(original), "height": 2.6 if wide else 3.3, "big": True}),
                                  ("fidelity", [f for f in fidelity if f not in original], {})):
        if group:
            others = [(params.smoothness.stage(p, f["target"]), str(layout.alphas_json(p, f["target"])))
                      for f in group for p in f.get("presets", {})]
            figs.draw(key, figs.smoothed([f["target"] for f in group]) + others, figures.fig_fidelity, group,
                      markers=preset_markers(params.smoothness),
                      **layout_kw)


def architecture_grid(architectures: dict) -> dict:
    """All networks in one table: for each layer name (rows, in depth order), each network's width, with
    '+' where a residual block adds its shortcut; 'yes' for the 2x2 average pool."""
    cells: dict[str, dict[str, str]] = {}
    for network, info in architectures.items():
        for layer in info["layers"]:
            kind, *convs = layer["spec"].split()
            if kind == "avgpool":
                cells.setdefault("avgpool", {})[network] = "yes"
            for i, token in enumerate(convs):
                name, width = token.split(":")
                mark = "+" if kind == "residual" and i == len(convs) - 1 else ""
                cells.setdefault(name, {})[network] = f"{width}{mark}"
    def depth(name: str) -> tuple[int, int]:
        digits = "".join(ch for ch in name if ch.isdigit())
        return (2, 0) if name.startswith("fc") else (1, 0) if name == "avgpool" else (0, int(digits or 0))
    return {"rows": sorted(cells, key=depth), "cells": cells, "networks": list(architectures)}


def r2_range(alphas) -> tuple[float, float]:
    """Lowest and highest R^2 of the line fits of the hidden layers (neither the input nor the last layer) in one
    preset's rows of the alphas table."""
    depth = alphas.groupby("target", sort=False).position.transform("max")
    r2 = alphas.r2[(alphas.position > 0) & (alphas.position < depth)].tolist()
    return (min(r2), max(r2)) if r2 else (float("nan"), float("nan"))


def alpha_table(alphas, original: dict | None = None) -> dict:
    """One preset's alpha of every target (its rows of the alphas table) by short layer name, the original's
    interval beside each where it has one (read off its charts: originals.json per_layer), and the layer rows
    in depth order."""
    by_target = dict(list(alphas.groupby("target", sort=False)))
    by_short = {t: dict(zip(rows.layer.map(claims.short_layer), rows.alpha.tolist(), strict=True))
                for t, rows in by_target.items()}
    intervals = {t: {claims.short_layer(layer): bounds for layer, bounds in (original or {}).get(t, {}).items()}
                 for t in by_target}
    longest = max(by_target.values(), key=len)
    rows = list(dict.fromkeys([claims.short_layer(layer) for layer in longest.layer]
                              + [layer for t in by_short for layer in by_short[t]]))
    return {"targets": list(by_target), "by_short": by_short, "original": intervals, "layers": rows}


def context(params: cfg.Params, results: Results, orig: dict, seeds: list[SeedGroup], fidelity: list[dict],
            fig: dict, sources: dict, root: Path = Path(".")) -> dict:
    """Everything the templates show: results, original numbers, claims, figures and provenance."""
    targets = list(params.smoothness.targets)
    summary_runs = [params.target_config(t).run for t in analysed_targets(params)]
    architectures = {name: {"title": params.network_title(name), **results.architectures["networks"][name]}
                     for name in params.networks}
    first_file = results.file(targets[0])
    return {
        "title": params.report.title, "params": params, "results": results, "orig": orig, "fig": fig,
        "fig_sources": sources,
        "architectures": architectures, "arch_grid": architecture_grid(architectures),
        "seeds": seeds, "summary_runs": summary_runs,
        "conclusions": claims.verdicts(params, results, orig, seeds),
        "matrix": claims.verdict_matrix(params, claims.verdicts_by_preset(params, results, orig)),
        "presets": params.smoothness.all_presets, "original_preset": params.smoothness.original.preset,
        "preset_done": {p: len(results.targets(p)) for p in params.smoothness.all_presets},
        "pending": results.pending,
        "summary": summary_rows(params, results, orig),
        "mislabel_rows": {p: results.mislabel_runs(p)[params.mislabel.run] for p in params.mislabel.presets},
        "noise": noise(params, results, orig, seeds),
        "mislabel_spread": mislabel_spread(params, results),
        "alpha_tables": {p: alpha_table(rows, orig["per_layer"]["alpha"])
                         for p, rows in results.alphas.groupby("preset", sort=False)},
        "r2_hidden": r2_range(results.preset_rows()),
        "fidelity": fidelity,
        "fidelity_original": original_reached(params, fidelity),
        "snapshot_epoch": params.train.snapshot_epoch,
        "estimator": first_file["estimator"], "preset": params.smoothness.lead,
        "provenance": provenance(params, root), "compute": compute_times(results),
        "n_train": first_file["n_samples"],
        "classes": results.architectures["classes"],
        "n_test": int(np.sum(next(iter(results.metrics.values()))["confusion_matrix"])),
        "max_epochs": sorted({run_cfg.max_epochs for run_cfg in params.runs.values()}),
        "made_on": sorted({f"{m.get('device', 'unknown')} (torch {m.get('torch', 'unknown')})"
                           for m in results.metrics.values()}),
    }


def compute_times(results: Results) -> dict:
    """Wall hours per stage family, from the stages' timing files (timings/): how many of the family's stages
    recorded one, their hours, and the processors they ran on."""
    t = results.timings
    rows = [{"family": family, "timed": int(g.seconds.notna().sum()), "stages": len(g), "not_run": int((~g.ran).sum()),
             "hours": float(g.seconds.sum()) / 3600, "cpus": sorted(set(g.cpu.dropna()))}
            for family, g in t.groupby("family", sort=False)]
    return {"rows": rows, "total_hours": sum(r["hours"] for r in rows), "not_run": int((~t.ran).sum()),
            "untimed": int((t.ran & t.seconds.isna()).sum()), "cpus": sorted(set(t.cpu.dropna()))}


def build(params: cfg.Params, out: Path = OUT, root: Path = Path(".")) -> dict:
    """Render OUT/index.html, OUT/report.pdf and OUT/figures/; returns the template context.

    Everything is built in a temporary folder beside OUT and moved in only when complete, so a
    failure (a full disk, a read-only folder) leaves the previous report whole.
    """
    results = replace(gather(params, root, timings=True),
                      architectures=layout.need(layout.ARCHITECTURES, "architectures", root))
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out.with_name(f".{out.name}.lock"), f"a report render into {out}/"):
        return _render(params, results, out, root)


def _render(params: cfg.Params, results: Results, out: Path, root: Path) -> dict:
    """build's work, under the lock that makes it the only render into `out`."""
    # a fixed name (not a random temp name): the PDF is rendered from it, and its bytes must not vary; the
    # lock held by build makes this render its only user, so a leftover one can go
    staging = out.with_name(f".{out.name}.staging")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as err:
        raise ReportError(f"cannot write beside {out}/ ({err.strerror}); make the folder writable") from err
    try:
        (staging / "figures").mkdir()
        orig = originals()
        seeds = seed_table(params, results)
        fidelity = fidelity_by_preset(params, results, orig)
        fig, sources = draw_figures(params, results, orig, seeds, fidelity, staging / "figures")
        ctx = context(params, results, orig, seeds, fidelity, fig, sources, root)
        html = environment().get_template("report.html").render(**ctx)
        write_text(staging / "index.html", html)
        prov = ctx["provenance"]
        write_json(staging / "manifest.json", {
            "git_commit": prov["commit"], "uncommitted_changes": prov["dirty"], "results_date": prov["results_date"],
            "params.yaml": prov["params_md5"], "dvc.lock (all stages but report)": prov["lock_md5"],
            "constraints.txt": prov["constraints_md5"], "data": prov["data_hash"],
            "results": {f["path"]: f["md5"] for f in prov["files"]},
        })
        write_text(staging / "report.css", (TEMPLATES / "report.css").read_text())
        from weasyprint import HTML

        # fontTools stamps the fonts it subsets into the PDF with the current time unless
        # SOURCE_DATE_EPOCH is set; a fixed stamp makes the same HTML give the same PDF bytes.
        os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
        # links to result files stay in the HTML; in the PDF they would become absolute paths of this machine
        printable = re.sub(r'<a href="\.\./[^"]*">(.*?)</a>', r"\1", html)
        with atomic_path(staging / "report.pdf") as tmp:
            HTML(string=printable, base_url=str(staging)).write_pdf(tmp)
        swap_in(staging, out)
    except OSError as err:
        raise ReportError(f"could not write the report ({err.strerror}: {err.filename or out}); {out}/ was "
                          f"left as it was. Free some space or make {out.parent.resolve()} writable") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ctx


def main() -> int:
    build(cfg.load())
    print(f"wrote {OUT / 'index.html'} and {OUT / 'report.pdf'}")
    return 0


if __name__ == "__main__":
    run_main(main)
