"""What the templates show: the Jinja2 environment with its number filters, and the context of every value
the report prints (results, the original's numbers, claims, figures, provenance)."""


from __future__ import annotations

import math
from pathlib import Path

import jinja2
import numpy as np

from replication.analysis.fidelity import noise, original_reached, summary_rows
from replication.analysis.results import Results, short_layer
from replication.analysis.seed_groups import SeedGroup, analysed_targets, mislabel_spread
from replication.core import registry as layout
from replication.report import settings as cfg
from replication.report.provenance import compact_sources, provenance

TEMPLATES = Path("report_templates")


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
    by_short = {t: dict(zip(rows.layer.map(short_layer), rows.alpha.tolist(), strict=True))
                for t, rows in by_target.items()}
    intervals = {t: {short_layer(layer): bounds for layer, bounds in (original or {}).get(t, {}).items()}
                 for t in by_target}
    longest = max(by_target.values(), key=len)
    rows = list(dict.fromkeys([short_layer(layer) for layer in longest.layer]
                              + [layer for t in by_short for layer in by_short[t]]))
    return {"targets": list(by_target), "by_short": by_short, "original": intervals, "layers": rows}


WHOLE = "claim"  # the item of a claim table row that carries the claim's verdict (analysis.claims.base.WHOLE)


def claim_rows(root: Path = Path(".")) -> list[dict]:
    """The claim table the metrics stage wrote (results/claims.csv), its numbers as floats (None where empty)."""
    rows = layout.need(layout.CLAIMS_TABLE, layout.METRICS.stage(), root)
    return [{**r, **{k: float(r[k]) if r[k] not in ("", None) else None for k in ("effect", "noise", "z")}}
            for r in rows]


def claim_page(rows: list[dict], evidence: dict, presets: tuple[str, ...]) -> list[dict]:
    """Per claim (and per sentence judged as a whole), in the order the metrics stage declared them: its
    declaration, its verdict row under every preset (`cells`, the lead first), its items under the lead, and the
    lead's finding (a dict of numbers, or why the lead cannot judge it). Nothing is judged here."""
    lead = presets[0]
    out = []
    for decl in evidence["claims"]:
        claim_id = decl["id"]
        mine = [r for r in rows if r["claim"] == claim_id]
        cells = {r["preset"]: r for r in mine if r["item"] == WHOLE}
        out.append({**decl, "cells": [(p, cells.get(p)) for p in presets],
                    "lead": cells.get(lead), "items": [r for r in mine if r["preset"] == lead and r["item"] != WHOLE],
                    "finding": evidence["findings"].get(lead, {}).get(claim_id)})
    return out


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
        "smoothness_stage": layout.SMOOTHNESS.stage,
        "fig_sources": sources,
        "architectures": architectures, "arch_grid": architecture_grid(architectures),
        "seeds": seeds, "summary_runs": summary_runs,
        "claims": claim_page(claim_rows(root), layout.need(layout.CLAIMS_EVIDENCE, layout.METRICS.stage(), root),
                             params.smoothness.ordered),
        "presets": params.smoothness.ordered, "original_preset": params.smoothness.original,
        "preset_done": {p: len(results.targets(p)) for p in params.smoothness.ordered},
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
             "hours": float(g.seconds.sum()) / 3600, "cpus": sorted(set(g.cpu.dropna())),
             "with_cpu": int(g.cpu.notna().sum())}
            for family, g in t.groupby("family", sort=False)]
    return {"rows": rows, "total_hours": sum(r["hours"] for r in rows), "not_run": int((~t.ran).sum()),
            "untimed": int((t.ran & t.seconds.isna()).sum()), "cpus": sorted(set(t.cpu.dropna()))}

