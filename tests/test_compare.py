"""`python -m replication compare`: params that differ, metrics and verdicts that moved, between revisions
and DVC experiments. The values come from DVC's experiment diff, so the test makes a real experiment."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from replication.core.errors import UserError
from replication.tools import compare

MAKE = """import json, pathlib, yaml
p = yaml.safe_load(open("params.yaml"))["smoothness"]
fc1 = {"as_reported": 0.10, "corrected": 0.12}[p["preset"]]
out = pathlib.Path("results/metrics"); out.mkdir(parents=True, exist_ok=True)
(out / "claims_verdict.as_reported.json").write_text(json.dumps({"mislabel_lowers_alpha":
    "holds" if p["preset"] == "as_reported" else "does not hold"}))
(out / "fc1_alpha.as_reported.json").write_text(json.dumps({"resnet12": fc1}))
table = pathlib.Path("results/smoothness/as_reported/resnet12"); table.mkdir(parents=True, exist_ok=True)
(table / "alphas.csv").write_text(f"index,layer,alpha\\n0,input,0.015\\n1,fc1,{fc1}\\n")
pathlib.Path("timings").mkdir(exist_ok=True)
pathlib.Path("timings/metrics.json").write_text(json.dumps({"seconds": 4000}))
"""
DVC_YAML = """stages:
  metrics:
    cmd: python make.py
    deps: [make.py]
    params: [smoothness]
    outs:
    - results/smoothness:
        cache: false
    - timings/metrics.json:
        cache: false
    metrics:
    - results/metrics:
        cache: false
"""


def run(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(args, cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A DVC project whose one stage writes metrics from params, committed once, with one experiment."""
    repo = tmp_path_factory.mktemp("scratch")
    (repo / "make.py").write_text(MAKE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("smoothness:\n  preset: as_reported\n  lead: as_reported\n  n_jobs: 2\n")
    run(repo, "git", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline")
    run(repo, sys.executable, "-m", "dvc", "exp", "run", "-q", "-n", "try-corrected",
        "-S", "smoothness.preset=corrected")
    return repo


@pytest.mark.slow
def test_compare_an_experiment_with_its_baseline(repo, monkeypatch):
    monkeypatch.chdir(repo)
    text = compare.compare("HEAD", "try-corrected", figure=repo / "overlay.svg")
    assert "| smoothness.preset | as_reported | corrected |" in text
    assert "n_jobs" not in text  # unchanged params are not listed
    assert "## Lead verdicts that changed (1; each side under its own lead preset)" in text
    assert "| mislabel_lowers_alpha | holds | does not hold |" in text
    assert text.index("## Lead verdicts") < text.index("## Params that differ")  # what flipped comes first
    assert "## Verdicts that changed, per preset (1)" in text
    assert "| claims_verdict.as_reported.mislabel_lowers_alpha | holds | does not hold |" in text
    assert "| fc1_alpha.as_reported.resnet12 | 0.1 | 0.12 | +0.02 |" in text
    assert "## Per-layer alphas that moved (1, TARGET (PRESET).LAYER)" in text
    assert "| resnet12 (as_reported).fc1 | 0.1 | 0.12 | +0.02 |" in text and "(as_reported).input" not in text
    assert (repo / "overlay.svg").read_text().startswith("<?xml")


@pytest.mark.slow
def test_compare_with_the_workspace_either_way_and_unknown_names(repo, monkeypatch):
    monkeypatch.chdir(repo)
    params = (repo / "params.yaml").read_text()
    try:
        (repo / "params.yaml").write_text(params.replace("n_jobs: 2", "n_jobs: 3"))
        assert "| smoothness.n_jobs | 2 | 3 |" in compare.compare("HEAD", "workspace")
        assert "| smoothness.n_jobs | 3 | 2 |" in compare.compare("workspace", "HEAD")
        assert "## Params that differ (0)" in compare.compare("workspace", "workspace")
    finally:
        (repo / "params.yaml").write_text(params)
    with pytest.raises(UserError, match="neither a git revision nor a DVC experiment"):
        compare.compare("HEAD", "no-such-experiment")
    with pytest.raises(UserError, match=r"names a git tree, not a commit"):
        compare.compare("HEAD", "HEAD^{tree}")


def test_broken_files_are_named_before_dvc_reads_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("a: &a [1, 1]\nb: &b [*a, *a]\nc: [" + ", ".join(["*b"] * 9) + "]\n")
    (tmp_path / "results" / "metrics").mkdir(parents=True)
    (tmp_path / "results" / "metrics" / "claims.json").write_text(json.dumps({"x": 1}))
    compare.check_files("workspace", "workspace")  # a few aliases are fine
    (tmp_path / "results" / "metrics" / "claims.json").write_text("{not json")
    with pytest.raises(UserError, match="claims.json is not valid JSON"):
        compare.check_files("workspace", "workspace")
    (tmp_path / "results" / "metrics" / "claims.json").write_text(json.dumps({"x": 1}))
    bomb = "a0: &a0 [" + ", ".join(["x"] * 10) + "]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10))
    conflict = "schema: '2.0'\n<<<<<<< HEAD\nstages: {}\n=======\nstages: {a: 1}\n>>>>>>> other\n"
    for text, why in ((bomb, "expands to more than"), (conflict, "dvc.lock"), ("schema: '2.0'\n", "no `stages`")):
        (tmp_path / "dvc.lock").write_text(text)
        with pytest.raises(UserError, match=why):
            compare.check_files("workspace", "workspace")


def test_a_lead_switch_shows_the_verdicts_under_each_sides_lead():
    """Switching smoothness.lead moves no stored verdict (they are kept per preset): compare reads each side's
    verdicts under its own lead."""
    metrics = {"claims_verdict.as_run.converge": "holds", "claims_verdict.as_run.pruned": "does not hold",
               "claims_verdict.corrected.converge": "holds", "claims_verdict.corrected.pruned": "within noise"}
    lead_a, lead_b, rows = compare.lead_verdicts({"smoothness.lead": "as_run"}, {"smoothness.lead": "corrected"},
                                                 metrics, metrics)
    assert (lead_a, lead_b) == ("as_run", "corrected")
    assert rows == [("converge", "holds", "holds"), ("pruned", "does not hold", "within noise")]
    assert compare.differences(metrics, metrics) == []  # what the per-preset view sees: nothing
    assert compare.lead_verdicts({}, {}, metrics, metrics) == ("", "", [])


def test_whatif_refuses_a_missing_key_in_dvcs_words_before_importing_dvc():
    import subprocess as sp

    code = ("import sys\nfrom replication.tools.whatif import precheck\nfrom replication.core.errors import UserError\n"
            "params = {'smoothness': {'lead': 'as_run'}}\nprecheck(['smoothness.lead=x', '+a.b=1', '~c'], params)\n"
            "try:\n    precheck(['smoothness.leed=x'], params)\nexcept UserError as err:\n    print(err)\n"
            "assert 'dvc' not in sys.modules\n")
    out = sp.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("-S smoothness.leed=x: Could not override 'smoothness.leed'. To append to your "
                                  "config use +smoothness.leed=x")


def test_tolerance_hides_tiny_moves():
    rows = compare.differences({"a": 1.0, "b": 2.0, "c": "x"}, {"a": 1.0 + 1e-9, "b": 2.5, "c": "x"}, tolerance=1e-6)
    assert rows == [("b", 2.0, 2.5)]


@pytest.mark.slow
def test_whatif_names_the_stages_a_setting_would_rerun_and_changes_nothing(repo, monkeypatch):
    from replication.tools.whatif import report, what_if

    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".dvc/tmp" not in str(p)}
    other = "as_reported" if "preset: corrected" in (repo / "params.yaml").read_text() else "corrected"
    answer = what_if([f"smoothness.preset={other}"], repo, check=False)
    assert [(s.name, s.seconds, s.estimate) for s in answer.would] == [("metrics", 4000.0, False)]
    assert answer.already == []
    assert what_if(["+report.title=X"], repo, check=False).would == []  # no stage reads it
    monkeypatch.chdir(repo)
    text = report([f"smoothness.preset={other}"], repo, check=False)
    assert text.splitlines() == [f"with smoothness.preset={other}: 1 stage would rerun, about 67 min on the "
                                 "machines that recorded them", "  metrics   67 min"]
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".dvc/tmp" not in str(p)}
    assert after == before
    with pytest.raises(UserError, match="-S"):
        what_if(["smoothness.preset"], repo, check=False)
    with pytest.raises(UserError, match=r"Could not override 'smoothness.nope'. To append .* \+smoothness.nope=1"):
        what_if(["smoothness.nope=1"], repo, check=False)  # DVC's own words for a key not in the file
    good = (repo / "dvc.yaml").read_bytes()
    try:  # a broken pipeline file is named as the project's, not as the scratch folder's copy
        (repo / "dvc.yaml").write_bytes(good + b"\nbroken: [\n")
        with pytest.raises(UserError, match=r"^unable to read: 'dvc.yaml', YAML file structure is corrupted") as err:
            what_if([f"smoothness.preset={other}"], repo, check=False)
        assert "replication-whatif" not in str(err.value) and "\n" not in str(err.value)
    finally:
        (repo / "dvc.yaml").write_bytes(good)


@pytest.mark.slow
def test_lock_commit_records_what_dvc_commit_records(repo):
    """migrations/lock_commit.py (one pass for many stages) writes the entry that `dvc commit -f` would."""
    import yaml

    script = str(Path(__file__).resolve().parents[1] / "migrations" / "lock_commit.py")
    lock = repo / "dvc.lock"
    good = lock.read_text()
    try:
        lock.write_text("schema: '2.0'\nstages: {}\n")
        done = subprocess.run([sys.executable, script, "metrics"], cwd=repo, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert yaml.safe_load(lock.read_text()) == yaml.safe_load(good)
        before = lock.read_text()
        wrong = subprocess.run([sys.executable, script, "metrics", "nope"], cwd=repo, capture_output=True, text=True,
                               timeout=120)
        assert wrong.returncode == 1 and lock.read_text() == before
        assert wrong.stderr.strip() == "error: not stages of dvc.yaml: nope; `dvc stage list` names them"
    finally:
        lock.write_text(good)


@pytest.mark.slow
def test_whatif_lists_never_run_stages_apart_and_reads_a_whole_params_file(tmp_path):
    """A stage that never ran runs anyway (dvc status lists it): it is not charged to a setting that leaves its
    params alone. A stage that declares params.yaml whole reruns on any setting, as DVC reruns it."""
    from replication.tools.whatif import what_if

    (tmp_path / "params.yaml").write_text("x: 1\ny: 1\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  first: {cmd: echo 1 > first.txt, params: [x], outs: [first.txt]}\n"
        "  second: {cmd: echo 2 > second.txt, params: [y], outs: [second.txt]}\n"
        "  whole: {cmd: echo 3 > whole.txt, params: [{params.yaml: }], outs: [whole.txt]}\n")
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, sys.executable, "-m", "dvc", "init", "-q")
    run(tmp_path, sys.executable, "-m", "dvc", "repro", "-q", "first", "whole")
    answer = what_if(["x=2"], tmp_path, check=False)
    assert sorted(s.name for s in answer.would) == ["first", "whole"] and answer.already == ["second"]
    answer = what_if(["y=2"], tmp_path, check=False)
    assert sorted(s.name for s in answer.would) == ["second", "whole"] and answer.already == []


def test_whatif_estimates_a_new_seed_from_seed_0_of_the_same_preset():
    from types import SimpleNamespace

    from replication.tools import whatif

    def stage(name):
        return SimpleNamespace(name=name, outs=[SimpleNamespace(def_path=f"timings/{name}.json")])

    recorded = {"smoothness@as_run-plain6": 10.0, "smoothness@corrected-plain6": 300.0,
                "smoothness@corrected-resnet12": 600.0, "smoothness@as_run-plain6_seed1": 5.0}
    names = [*recorded, "smoothness@corrected-plain6_seed1", "smoothness@corrected-vgg", "smoothness@fast-vgg"]
    seconds = whatif._seconds
    try:
        whatif._seconds = lambda path: recorded.get(path.stem, math.nan)
        costs = whatif._costs([stage(n) for n in names], Path("."))
    finally:
        whatif._seconds = seconds
    assert costs["smoothness@corrected-plain6_seed1"] == whatif.Stage("smoothness@corrected-plain6_seed1", 300.0, True)
    assert costs["smoothness@corrected-vgg"].seconds == 450.0  # the preset's median
    assert costs["smoothness@fast-vgg"].seconds == statistics.median(recorded.values())  # the family's
    assert costs["smoothness@as_run-plain6"] == whatif.Stage("smoothness@as_run-plain6", 10.0, False)
