"""Compare two settings: the params that differ and the metrics that moved between two git revisions
or DVC experiments (or the working tree), with an optional per-layer alpha overlay figure.

    python -m replication compare HEAD~1 HEAD
    python -m replication compare main my-experiment --figure compare.svg
    python -m replication compare HEAD workspace
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from replication import layout
from replication.errors import UserError
from replication.files import load_yaml

WORKSPACE = "workspace"


def resolve(rev: str) -> str:
    """A git revision for `rev`: itself, a DVC experiment's ref (refs/exps/.../NAME), or the workspace."""
    if rev == WORKSPACE:
        return rev
    if _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False):
        return rev
    refs = _git("for-each-ref", "--format=%(refname)", "refs/exps", check=False).split()
    matches = [r for r in refs if r.rsplit("/", 1)[-1] == rev]
    if len(matches) == 1:
        return matches[0]
    raise UserError(f"{rev!r} is neither a git revision nor a DVC experiment name (see `dvc exp list`)")


def _git(*args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise UserError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip() if out.returncode == 0 else ""


def read_at(rev: str, path: Path) -> str | None:
    """A file's text at `rev` (None where it does not exist)."""
    if rev == WORKSPACE:
        return path.read_text() if path.exists() else None
    out = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {'a.b.c': leaf}; lists stay leaves."""
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def snapshot(rev: str) -> tuple[dict, dict]:
    """(flattened params, flattened metrics) at `rev`."""
    text = read_at(rev, Path("params.yaml"))
    if text is None:
        raise UserError(f"{rev}: has no params.yaml")
    metrics = {}
    for name in layout.METRIC_FILES:
        path = layout.METRICS / f"{name}.json"
        raw = read_at(rev, path)
        if raw is not None:
            try:
                metrics.update(flatten(json.loads(raw), name))
            except (json.JSONDecodeError, RecursionError) as err:
                why = " ".join(str(err).split())[:80] if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise UserError(f"{rev}: {path} is not valid JSON ({why}); rerun `dvc repro metrics` there") from None
    return flatten(load_yaml(text, f"{rev}: params.yaml")), metrics


def differences(a: dict, b: dict, tolerance: float = 0.0) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ (numbers by more than `tolerance`), in key order."""
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if math.isclose(x, y, rel_tol=0.0, abs_tol=tolerance):
                continue
        elif x == y:
            continue
        rows.append((key, x, y))
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(rows: list[tuple[str, Any, Any]], a: str, b: str, delta: bool = False) -> str:
    """A markdown table of differing keys."""
    head = f"| key | {a} | {b} |" + (" change |" if delta else "")
    lines = [head, "|" + " --- |" * (4 if delta else 3)]
    for key, x, y in rows:
        change = ""
        if delta and isinstance(x, (int, float)) and isinstance(y, (int, float)):
            change = f" {y - x:+.4g} |"
        elif delta:
            change = " |"
        lines.append(f"| {key} | {_fmt(x)} | {_fmt(y)} |{change}")
    return "\n".join(lines)


def overlay(metrics_a: dict, metrics_b: dict, a: str, b: str, path: Path) -> None:
    """Alpha per layer of every smoothness target at both revisions, one panel per target."""
    from replication import figures

    def per_target(metrics: dict) -> dict[str, list[tuple[str, float]]]:
        out: dict[str, list[tuple[str, float]]] = {}
        for key, value in metrics.items():
            parts = key.split(".")
            # smoothness.PRESET.TARGET.alpha.LAYER
            if len(parts) == 5 and parts[0] == "smoothness" and parts[3] == "alpha":
                out.setdefault(f"{parts[2]} ({parts[1]})", []).append((parts[4], value))
        return out

    figures.fig_compare(per_target(metrics_a), per_target(metrics_b), a, b, path)


def compare(rev_a: str, rev_b: str, figure: Path | None = None, tolerance: float = 0.0) -> str:
    """The markdown comparison of two revisions (and the overlay figure when asked)."""
    ga, gb = resolve(rev_a), resolve(rev_b)
    params_a, metrics_a = snapshot(ga)
    params_b, metrics_b = snapshot(gb)
    p_rows = differences(params_a, params_b)
    m_rows = differences(metrics_a, metrics_b, tolerance)
    verdicts = [r for r in m_rows if r[0].startswith("claims.") and r[0].endswith(".verdict")]
    parts = [f"## Params that differ ({len(p_rows)})", table(p_rows, rev_a, rev_b) if p_rows else "none",
             f"## Verdicts that changed ({len(verdicts)})", table(verdicts, rev_a, rev_b) if verdicts else "none",
             f"## Metrics that moved ({len(m_rows)})", table(m_rows, rev_a, rev_b, delta=True) if m_rows else "none"]
    if not metrics_a or not metrics_b:
        parts.append(f"(no {layout.METRICS}/ at {rev_a if not metrics_a else rev_b}: run `dvc repro metrics` there)")
    if figure is not None:
        overlay(metrics_a, metrics_b, rev_a, rev_b, figure)
        parts.append(f"Per-layer alpha overlay: {figure}")
    return "\n\n".join(parts)
