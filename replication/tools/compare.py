"""Compare two settings: the params that differ and the metrics that moved between two git revisions
or DVC experiments (or the working tree), with an optional per-layer alpha overlay figure.

The values come from DVC's own experiment diff (`dvc exp diff --all`); what this adds is the project's
view of them: first the verdicts that flipped under each side's lead preset (`smoothness.lead`: switching it
changes no stored verdict, only which preset's verdicts the report leads with), then the params that differ,
the verdicts that changed per preset, a tolerance for tiny moves, and the alpha overlay.

    python -m replication compare HEAD~1 HEAD
    python -m replication compare main my-experiment --figure compare.svg
    python -m replication compare HEAD workspace
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
from pathlib import Path
from typing import Any

from replication.core import registry as layout
from replication.core.errors import UserError
from replication.core.files import load_yaml, read_regular
from replication.estimator.settings import short
from replication.report.provenance import lock_stages

WORKSPACE = "workspace"
MAX_FILE_BYTES = 64 << 20  # params.yaml, dvc.lock, a metrics file: far smaller
MAX_LAYER_ROWS = 40  # per-layer alphas listed in the text; the overlay figure has all of them


def resolve(rev: str) -> str:
    """The commit DVC resolves `rev` to (a git revision or a DVC experiment name), or the workspace."""
    if rev == WORKSPACE:
        return rev
    from dvc.repo import Repo
    from dvc.scm import RevError, resolve_rev

    with Repo() as repo:
        try:
            sha = resolve_rev(repo.scm, rev)
        except RevError:
            raise UserError(f"{short(rev)} is neither a git revision nor a DVC experiment name (see `dvc exp list`)") \
                from None
    kind = subprocess.run(["git", "cat-file", "-t", sha], capture_output=True, text=True).stdout.strip()
    if kind != "commit":  # HEAD^{tree}, a blob: DVC would read nothing there and report everything as changed
        raise UserError(f"{short(rev)} names a git {kind or 'object'}, not a commit; give a commit, a branch, a tag "
                        "or a DVC experiment name")
    return sha


def read_at(rev: str, path: Path) -> str | None:
    """A file's text at commit `rev` or in the workspace (None where it does not exist)."""
    if rev == WORKSPACE:
        return read_regular(path, MAX_FILE_BYTES, str(path)).decode("utf-8", "replace") if path.exists() else None
    out = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def files_at(rev: str, folder: Path, pattern: str) -> list[Path]:
    """The files under `folder` matching `pattern` at commit `rev` or in the workspace."""
    if rev == WORKSPACE:
        return sorted(folder.glob(pattern))
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "--", folder.as_posix()],
                         capture_output=True, text=True)
    return sorted(Path(line) for line in out.stdout.splitlines() if Path(line).match(pattern))


def check_files(rev: str, label: str) -> None:
    """What DVC would choke on, named in one line first: params.yaml and dvc.lock that are not bounded, valid YAML
    (an alias bomb would hang DVC's parser, conflict markers make it read nothing), metrics files that are not
    JSON."""
    text = read_at(rev, Path("params.yaml"))
    if text is None:
        raise UserError(f"{label}: has no params.yaml")
    load_yaml(text, f"{label}: params.yaml")
    lock = read_at(rev, Path("dvc.lock"))
    if lock is not None:  # an alias bomb would hang DVC's parser; conflict markers make it read nothing
        lock_stages(lock, f"{label}: dvc.lock")
    for path in files_at(rev, layout.METRICS_DIR, "*.json"):
        raw = read_at(rev, path)
        if raw is not None:
            try:
                json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as err:
                why = " ".join(str(err).split())[:80] if isinstance(err, json.JSONDecodeError) else "nested too deeply"
                raise UserError(f"{label}: {path} is not valid JSON ({why}); rerun `dvc repro metrics` there") from None


def values(rev_a: str, rev_b: str) -> tuple[dict, dict, dict, dict]:
    """(params at a, params at b, metrics at a, metrics at b), every key, from DVC's own experiment diff;
    metric keys are prefixed with their file's name (fc1_alpha.PRESET.TARGET)."""
    from dvc.repo import Repo

    swap = rev_a == WORKSPACE and rev_b != WORKSPACE  # DVC compares a commit (old) with the workspace (new)
    old, new = (rev_b, rev_a) if swap else (rev_a, rev_b)
    with Repo() as repo:
        diff = repo.experiments.diff(a_rev="HEAD" if old == WORKSPACE else old,
                                     b_rev=None if new == WORKSPACE else new, all=True)
    side = {"old": ({}, {}), "new": ({}, {})}  # (params, metrics)
    for kind, index in (("params", 0), ("metrics", 1)):
        for file, entries in diff.get(kind, {}).items():
            prefix = f"{Path(file).stem}." if kind == "metrics" else ""
            for key, entry in entries.items():
                for which in ("old", "new"):
                    if entry.get(which) is not None:
                        side[which][index][prefix + key] = entry[which]
    if old == new == WORKSPACE:
        side["old"] = side["new"]
    (pa, ma), (pb, mb) = (side["new"], side["old"]) if swap else (side["old"], side["new"])
    return pa, pb, ma, mb


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


def lead_verdicts(params_a: dict, params_b: dict, metrics_a: dict, metrics_b: dict) -> tuple[str, str, list]:
    """(lead at a, lead at b, [(claim, verdict at a under its lead, verdict at b under its lead)]), every claim
    either side judges; leads are '' where a side's params name none."""
    lead_a, lead_b = str(params_a.get("smoothness.lead") or ""), str(params_b.get("smoothness.lead") or "")

    def under(metrics: dict, lead: str) -> dict:
        prefix = f"claims_verdict.{lead}."
        return {k[len(prefix):]: v for k, v in metrics.items() if lead and k.startswith(prefix)}

    va, vb = under(metrics_a, lead_a), under(metrics_b, lead_b)
    return lead_a, lead_b, [(c, va.get(c), vb.get(c)) for c in sorted(set(va) | set(vb))]


def layer_alphas(rev: str) -> dict[str, list[tuple[str, float]]]:
    """'TARGET (PRESET)' -> (layer, alpha) in depth order, from every alphas.csv at `rev`."""
    out = {}
    for path in files_at(rev, layout.RESULTS / "smoothness", "*/*/alphas.csv"):
        rows = list(csv.DictReader(io.StringIO(read_at(rev, path) or "")))
        try:
            out[f"{path.parent.name} ({path.parent.parent.name})"] = [(r["layer"], float(r["alpha"])) for r in rows]
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{short(rev)}: {path} is not an alphas table (layer and alpha columns); rerun its "
                            "stage there") from None
    return out


def layers_moved(a: dict, b: dict, tolerance: float = 0.0) -> list[tuple[str, Any, Any]]:
    """Per-layer alphas present at both revisions that differ by more than `tolerance`."""
    flat = [{f"{name}.{layer}": alpha for name, rows in side.items() for layer, alpha in rows} for side in (a, b)]
    shared = set(flat[0]) & set(flat[1])
    return [row for row in differences(flat[0], flat[1], tolerance) if row[0] in shared]


def overlay(alphas_a: dict, alphas_b: dict, a: str, b: str, path: Path) -> None:
    """Alpha per layer of every smoothness target at both revisions, one panel per target."""
    from replication.report import figures

    figures.fig_compare(alphas_a, alphas_b, a, b, path)


def compare(rev_a: str, rev_b: str, figure: Path | None = None, tolerance: float = 0.0) -> str:
    """The markdown comparison of two revisions (and the overlay figure when asked)."""
    ga, gb = resolve(rev_a), resolve(rev_b)
    check_files(ga, rev_a)
    check_files(gb, rev_b)
    params_a, params_b, metrics_a, metrics_b = values(ga, gb)
    p_rows = differences(params_a, params_b)
    m_rows = differences(metrics_a, metrics_b, tolerance)
    verdicts = [r for r in m_rows if r[0].startswith("claims_verdict.")]
    lead_a, lead_b, led = lead_verdicts(params_a, params_b, metrics_a, metrics_b)
    flipped = [r for r in led if r[1] != r[2]]
    heads = (f"{rev_a} ({lead_a or 'no lead'})", f"{rev_b} ({lead_b or 'no lead'})")
    alphas_a, alphas_b = layer_alphas(ga), layer_alphas(gb)
    l_rows = layers_moved(alphas_a, alphas_b, tolerance)
    parts = [f"## Lead verdicts that changed ({len(flipped)}; each side under its own lead preset)",
             table(flipped, *heads) if flipped else "none"]
    if lead_a != lead_b:  # a view switch: every verdict under each side's lead, the moved ones marked
        parts += [f"## Verdicts under the lead: {lead_a or 'none'} at {rev_a}, {lead_b or 'none'} at {rev_b}",
                  table([(c + (" (moved)" if x != y else ""), x, y) for c, x, y in led], *heads)]
    parts += [f"## Params that differ ({len(p_rows)})", table(p_rows, rev_a, rev_b) if p_rows else "none",
             f"## Verdicts that changed, per preset ({len(verdicts)})",
             table(verdicts, rev_a, rev_b) if verdicts else "none",
             f"## Metrics that moved ({len(m_rows)})", table(m_rows, rev_a, rev_b, delta=True) if m_rows else "none",
             f"## Per-layer alphas that moved ({len(l_rows)}, TARGET (PRESET).LAYER)",
             table(l_rows[:MAX_LAYER_ROWS], rev_a, rev_b, delta=True) if l_rows else "none"]
    if len(l_rows) > MAX_LAYER_ROWS:
        parts.append(f"(the first {MAX_LAYER_ROWS}; all of them: `--figure overlay.svg`, or the alphas.csv files)")
    if not metrics_a or not metrics_b:
        missing = rev_a if not metrics_a else rev_b
        parts.append(f"(no {layout.METRICS_DIR}/ at {missing}: run `dvc repro {layout.METRICS.stage()}` there)")
    if figure is not None:
        overlay(alphas_a, alphas_b, rev_a, rev_b, figure)
        parts.append(f"Per-layer alpha overlay: {figure}")
    return "\n\n".join(parts)
