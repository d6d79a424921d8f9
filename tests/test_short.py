"""`python -m replication metrics`: the short view of the committed metrics, under 120 columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from replication.analysis import settings as cfg
from replication.core.errors import MissingResult
from replication.tools.short import WIDTH, summary

ROOT = Path(__file__).resolve().parents[1]


def test_the_short_view_fits_120_columns_and_leads_with_the_lead():
    params = cfg.load(ROOT / "params.yaml")
    text = summary(params, ROOT)
    lines = text.splitlines()
    assert max(map(len, lines)) <= WIDTH
    verdicts = json.loads((ROOT / "results" / "metrics" / f"claims_verdict.{params.smoothness.lead}.json").read_text())
    head = lines[1].split()
    assert head[:3] == ["claim", params.smoothness.lead, "(lead)"]  # the lead's column first
    for claim, verdict in verdicts.items():  # every claim of the lead, with its verdict, on its own row
        row = next(line for line in lines if line.startswith(claim + " "))
        assert row[len(claim):].lstrip().startswith(verdict)
    accuracy = json.loads((ROOT / "results" / "metrics" / "accuracy.json").read_text())
    seeds = [accuracy[r] for r in params.seed_groups["resnet12"]]
    row = next(line for line in lines if line.startswith("resnet12 ") and line.endswith("65.63"))  # the original
    assert row.split()[1:3] == [str(len(seeds)), f"{100 * sum(seeds) / len(seeds):.2f}"]  # over the seeds

def test_the_short_view_names_the_stage_to_run_when_metrics_are_missing(tmp_path):
    params = cfg.load(ROOT / "params.yaml")
    shutil.copytree(ROOT / "results" / "metrics", tmp_path / "results" / "metrics")
    (tmp_path / "results" / "metrics" / "accuracy.json").unlink()
    with pytest.raises(MissingResult, match=r"results/metrics/accuracy.json is missing: run `dvc repro metrics`"):
        summary(params, tmp_path)
