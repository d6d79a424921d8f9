"""`python -m replication compare`: params that differ, metrics and verdicts that moved, between revisions."""

from __future__ import annotations

import json
import subprocess

import pytest

from replication import compare
from replication.errors import UserError


def _commit(repo, params: str, claims: dict, smoothness: dict, message: str) -> None:
    (repo / "params.yaml").write_text(params)
    (repo / "results" / "metrics").mkdir(parents=True, exist_ok=True)
    (repo / "results" / "metrics" / "claims.json").write_text(json.dumps(claims))
    (repo / "results" / "metrics" / "smoothness.json").write_text(json.dumps(smoothness))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=repo, check=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    alphas = {"as_reported": {"resnet12": {"alpha": {"input": 0.015, "fc1": 0.10}, "last_layer_alpha": 0.10}}}
    _commit(tmp_path, "smoothness:\n  preset: as_reported\n  n_jobs: 2\n",
            {"as_reported": {"mislabel_lowers_alpha": {"verdict": 1.0, "value": 0.1}}}, alphas, "a")
    alphas["as_reported"]["resnet12"]["alpha"]["fc1"] = alphas["as_reported"]["resnet12"]["last_layer_alpha"] = 0.12
    _commit(tmp_path, "smoothness:\n  preset: corrected\n  n_jobs: 2\n",
            {"as_reported": {"mislabel_lowers_alpha": {"verdict": 0.0, "value": 0.1}}}, alphas, "b")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_compare_lists_what_changed_and_nothing_else(repo):
    text = compare.compare("HEAD~1", "HEAD", figure=repo / "overlay.svg")
    assert "| smoothness.preset | as_reported | corrected |" in text
    assert "n_jobs" not in text  # unchanged params are not listed
    assert "## Verdicts that changed (1)" in text
    assert "| claims.as_reported.mislabel_lowers_alpha.verdict | 1 | 0 |" in text
    assert "| smoothness.as_reported.resnet12.alpha.fc1 | 0.1 | 0.12 | +0.02 |" in text
    assert "smoothness.as_reported.resnet12.alpha.input" not in text
    assert (repo / "overlay.svg").read_text().startswith("<?xml")


def test_compare_with_the_workspace_and_unknown_names(repo):
    (repo / "params.yaml").write_text("smoothness:\n  preset: as_run\n  n_jobs: 2\n")
    assert "| smoothness.preset | corrected | as_run |" in compare.compare("HEAD", "workspace")
    with pytest.raises(UserError, match="neither a git revision nor a DVC experiment"):
        compare.compare("HEAD", "no-such-experiment")


def test_tolerance_hides_tiny_moves():
    rows = compare.differences({"a": 1.0, "b": 2.0, "c": "x"}, {"a": 1.0 + 1e-9, "b": 2.5, "c": "x"}, tolerance=1e-6)
    assert rows == [("b", 2.0, 2.5)]
