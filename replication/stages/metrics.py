"""Stage metrics: the headline numbers a user compares, as DVC metrics, one small file per quantity.

`dvc metrics show` prints one row per file and one column per key; the files share their keys (a run's or a
target's name, a claim's id, a shuffled fraction), so the table stays narrow:

- `accuracy.json`: test accuracy per training run;
- `fc1_alpha.PRESET.json`: the last layer's alpha per smoothness target under each estimator preset (the
  original's estimator on every target: its stages give the last layer where they do not give all);
- `claims_z.PRESET.json`, `claims_verdict.PRESET.json` and `claims_value.PRESET.json`: each claim's z (its effect
  in its own noise), the verdict that follows from it (replication/analysis/zscore.py) and the number it measures,
  read off the claim table;
- `mislabel_mean.PRESET.json` and `mislabel_sd.PRESET.json`: the mislabel study's alpha per shuffled fraction
  (mean and shuffle sd over the seeds, the first of mislabel.runs).

The claim table itself (results/claims.csv: claim, preset, item, effect, noise, z, verdict, unit, note) and each
claim's evidence (results/claims.json) are written here, once: the report prints them and judges nothing.
Per-layer alphas stay in results/smoothness/PRESET/TARGET/alphas.csv (read by `dvc plots`, `python -m
replication compare` and the report). No wall times, devices or versions: the same results always give the
same metrics, and `dvc metrics diff` is empty unless a result moved.

    python -m replication.stages.metrics     # rewrites results/metrics/, results/claims.csv and .json
"""

from __future__ import annotations

import shutil

from replication.analysis import claims
from replication.analysis import settings as cfg
from replication.analysis.originals import originals
from replication.analysis.results import Results, gather
from replication.core import registry as layout
from replication.core.errors import run_main
from replication.core.files import write_csv, write_json


def numbers(params: cfg.Params, results: Results, rows: list[claims.Row], findings: dict) -> dict[str, dict]:
    """File stem -> its flat mapping of key -> number (or verdict)."""
    out: dict[str, dict] = {"accuracy": results.runs.test_accuracy.to_dict()}
    sm = params.smoothness
    for preset in sm.ordered:  # the original's estimator: every target's last layer
        fc1 = results.fc1(preset)
        if fc1:
            out[f"fc1_alpha.{preset}"] = fc1
    out.update(claim_numbers(rows, findings))
    lead = results.mislabel[results.mislabel.run == params.mislabel.run]
    for preset, rows_ in lead.groupby("preset", sort=False):
        out[f"mislabel_mean.{preset}"] = {str(r): m for r, m in zip(rows_.rate, rows_.alpha_mean.tolist(), strict=True)}
        out[f"mislabel_sd.{preset}"] = {str(r): s for r, s in zip(rows_.rate, rows_.alpha_std.tolist(), strict=True)}
    return out


def claim_numbers(rows: list[claims.Row], findings: dict) -> dict[str, dict]:
    """Per preset, three views of the claim table's verdict rows: each claim's z, verdict and measured number
    (the claims a preset cannot judge are left out)."""
    out: dict[str, dict] = {}
    for r in rows:
        finding = findings.get(r.preset, {}).get(r.claim)
        if r.item != claims.WHOLE or not isinstance(finding, dict):
            continue
        out.setdefault(f"claims_z.{r.preset}", {})[r.claim] = r.z
        out.setdefault(f"claims_verdict.{r.preset}", {})[r.claim] = r.verdict
        out.setdefault(f"claims_value.{r.preset}", {})[r.claim] = float(claims.CLAIMS[r.claim].key(finding))
    return out


def write(files: dict[str, dict]) -> None:
    """results/metrics/ holding exactly these files (built beside it, then swapped in)."""
    staging = layout.METRICS_DIR.with_name(layout.METRICS_DIR.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    for stem, values in files.items():
        write_json(layout.under(staging, f"{stem}.json"), values)
    old = layout.METRICS_DIR.with_name(layout.METRICS_DIR.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if layout.METRICS_DIR.exists():
        layout.METRICS_DIR.rename(old)
    staging.rename(layout.METRICS_DIR)
    shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    params = cfg.load()
    results = gather(params, histories=False, retrain=False)
    findings = claims.judge(params, results, originals())
    rows = claims.table(findings)
    write_csv(layout.CLAIMS_TABLE, [r.as_dict() for r in rows], list(claims.COLUMNS))
    write_json(layout.CLAIMS_EVIDENCE, {"claims": claims.declarations(), "findings": findings})
    write(numbers(params, results, rows, findings))
    for r in rows:
        if r.item == claims.WHOLE:
            z = "" if r.z is None else f" (z {r.z:+.2f})"
            print(f"{r.claim} [{r.preset}]: {r.verdict}{z}{'' if r.z is not None else ': ' + r.note}")
    return 0


if __name__ == "__main__":
    run_main(main)
