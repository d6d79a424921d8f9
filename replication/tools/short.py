"""The metrics a user looks at first, in a terminal's width (`dvc metrics show` prints every key of every file,
hundreds of characters wide):

    python -m replication metrics

Three small tables, read from results/metrics/ (what `dvc metrics show` reads) and params.yaml: each claim's
verdict and z under every estimator preset (the lead first), test accuracy per network (mean and sd over its
training seeds, beside the original), and the last layer's alpha of each network the original analysed, per
preset, beside the original's.
"""

from __future__ import annotations

import math
from pathlib import Path

from replication.analysis import seed_groups
from replication.analysis import settings as cfg
from replication.analysis.originals import originals
from replication.core import registry as layout
from replication.core.errors import MissingResult
from replication.core.files import read_json

WIDTH = 120  # no line is wider


def _metrics(stem: str, root: Path) -> dict:
    path = root / layout.METRICS_DIR / f"{stem}.json"
    if not path.exists():
        raise MissingResult(f"{path.relative_to(root) if path.is_relative_to(root) else path} is missing: run "
                            f"`dvc repro {layout.METRICS.stage()}` first")
    return read_json(path)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _rows(head: list[str], rows: list[list[str]], first: int) -> list[str]:
    """Left-aligned first column, right-aligned others; the first column cut to `first` characters."""
    cells = [[_cut(r[0], first), *r[1:]] for r in [head, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            .rstrip() for r in cells]


def verdicts(params: cfg.Params, root: Path) -> list[str]:
    sm = params.smoothness
    presets = sm.ordered  # the lead first
    verdict = {p: _metrics(f"claims_verdict.{p}", root) for p in presets}
    z = {p: _metrics(f"claims_z.{p}", root) for p in presets}
    claims = list(verdict[sm.lead]) + sorted({c for p in presets for c in verdict[p]} - set(verdict[sm.lead]))

    def cell(p: str, c: str) -> str:
        if c not in verdict[p]:
            return "-"
        zz = z[p].get(c)
        return f"{verdict[p][c]} ({zz:+.2f})" if isinstance(zz, (int, float)) and math.isfinite(zz) else verdict[p][c]

    head = ["claim", *(f"{p} (lead)" if p == sm.lead else p for p in presets)]
    return ["Verdicts (z: the claim's effect in its own noise)",
            *_rows(head, [[c, *(cell(p, c) for p in presets)] for c in claims], 34)]


def accuracy(params: cfg.Params, root: Path) -> list[str]:
    acc = _metrics("accuracy", root)
    orig = originals()["runs"]
    rows = []
    for run in seed_groups.single_runs(params):
        values = [acc[r] for r in seed_groups.seed_runs(params, run) if r in acc]
        if not values:
            continue
        stat = seed_groups.mean_sd(values)
        o = orig.get(run, {}).get("test_accuracy")
        rows.append([run, str(len(values)), f"{100 * stat.mean:.2f}", f"{100 * stat.sd:.2f}",
                     f"{100 * o:.2f}" if o is not None else "-"])
    return ["Test accuracy, % (over the training seeds of each network)",
            *_rows(["network", "seeds", "mean", "sd", "original"], rows, 34)]


def fc1(params: cfg.Params, root: Path) -> list[str]:
    sm = params.smoothness
    presets = sm.ordered  # the lead first
    values = {p: _metrics(f"fc1_alpha.{p}", root) for p in presets}
    charts = originals()["per_layer"]["alpha"]  # [low, high) read off the original's charts
    shown = seed_groups.analysed_targets(params)
    shown += [t for t in charts if t in sm.targets and t not in shown]  # its snapshots and the 100-epoch run
    rows = []
    for target in shown:
        low, high = charts.get(target, {}).get("fc1", (None, None))
        original = "-" if low is None else f"{low:.4f}" if low == high else f"{low:.3f}-{high:.3f}"
        rows.append([target, *(f"{values[p][target]:.4f}" if target in values[p] else "-" for p in presets), original])
    head = ["network", *(f"{p} (lead)" if p == sm.lead else p for p in presets), "original"]
    return ["Last layer's alpha (fc1), first seed", *_rows(head, rows, 34)]


def summary(params: cfg.Params, root: Path = Path(".")) -> str:
    lines = [*verdicts(params, root), "", *accuracy(params, root), "", *fc1(params, root)]
    return "\n".join(_cut(line, WIDTH) for line in lines)
