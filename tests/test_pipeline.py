"""End to end: `dvc repro` on tiny synthetic data with tiny params produces a real PDF report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from synthetic import make_splits

from replication.tools import data as cifar

pytestmark = pytest.mark.slow  # `make test-fast` leaves these out

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "data", "results", "report", ".resume", ".pytest_cache", ".ruff_cache", "bench",
        "dvc.lock", "timings"}  # the real project's lock (300+ stages) would be rewritten at every tiny stage


def tiny_params(raw: dict) -> dict:
    """The project's params shrunk to the fewest stages that still run every stage kind once: four
    tiny trainings (a network, a modified one, a second seed, a long run), their smoothness targets, two
    mislabel rates, one retraining, overfit, suggest and report."""
    raw["data"].update(val_size=40)
    raw["train"].update(batch_size=40, snapshot_epoch=1, eval_batch_size=100)
    keep = {"resnet12": 2, "plain6": 2, "resnet12_seed1": 2, "resnet12_overfit": 3}
    raw["runs"] = {k: {**raw["runs"][k], "max_epochs": epochs} for k, epochs in keep.items()}
    for preset in raw["smoothness"]["presets"].values():
        preset.update(n_trees=2, m_stop=100)
    raw["smoothness"]["targets"] = {k: {"run": raw["smoothness"]["targets"][k]["run"],
                                        "weights": raw["smoothness"]["targets"][k]["weights"]}
                                    for k in ("resnet12", "resnet12_epoch5", "resnet12_seed1", "resnet12_overfit")}
    raw["smoothness"]["targets"]["resnet12"]["layers"] = "all"  # as_run: every layer here, fc1 elsewhere
    raw["mislabel"].update(seeds=[0, 1], retrain=[0.5], rates=[0.0, 1.0], presets=["as_run"],
                           runs=["resnet12", "resnet12_seed1"])
    raw["suggest"]["derived"] = {"plain6": "resnet12"}
    raw["claims"].update(converge=["resnet12", "plain6"], pruned=["plain6"])
    raw["report"].update(main_targets=["resnet12", "resnet12_epoch5"],
                         overlays={"final_vs_epoch5": {"resnet12": "resnet12_epoch5"}})
    return raw


def run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e") / "project"
    shutil.copytree(ROOT, work, ignore=lambda d, names: [n for n in names if Path(d) == ROOT and n in SKIP])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(work), "REPLICATION_JOBS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    splits = cifar.canonicalize(make_splits(200, 60, separable=True), "synthetic", full=False)
    cifar.write_canonical(splits, work / "data")
    raw = yaml.safe_load((work / "params.yaml").read_text())
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(raw), sort_keys=False))
    dvc = str(Path(sys.executable).parent / "dvc")
    added = run([dvc, "add", "-q", "data"], work, env)
    assert added.returncode == 0, added.stderr
    repro = run([dvc, "repro"], work, env)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    return work, env, dvc


def test_repro_writes_a_pdf_with_every_network_and_section(project):
    work, _, _ = project
    from pypdf import PdfReader

    pdf = work / "report" / "report.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 5
    text = " ".join(page.extract_text() for page in reader.pages)
    params = yaml.safe_load((work / "params.yaml").read_text())
    for name in params["runs"]:
        assert name in text, name
    for section in ("1. Summary", "2. Setup", "3. Architectures", "4. Accuracy", "5. Training curves",
                    "6. Smoothness", "7. Mislabeling", "8. Overfitting", "9. Discussion", "Provenance"):
        assert section in text, section
    assert "65.63%" in text  # an original number beside the reproduced ones
    assert "retraining on shuffled labels" in text  # the optional study, switched on here
    assert "Against the seed noise" in text and "standard error of that difference" in text  # own noise only
    html = (work / "report" / "index.html").read_text()
    assert "<svg" not in html and "figures/curves.svg" in html
    # every figure names the concrete stages behind it and the command that rebuilds it
    assert html.count("<figure>") == html.count("rebuild: <code>dvc repro -f -s ") > 5
    assert "@TARGET" not in html and "@RUN" not in html
    assert "smoothness@as_run-resnet12" in html  # the figures follow the lead
    assert json.loads((work / "report" / "manifest.json").read_text())["results"]


def test_a_preset_gives_every_layer_of_its_targets_and_the_last_layer_of_the_others(project):
    """smoothness@as_run-TARGET for every target: every layer of the one as_run lists, fc1 alone elsewhere; the
    last layer is the same number either way (the same representation, forest and seed)."""
    work, _, _ = project
    params = yaml.safe_load((work / "params.yaml").read_text())
    preset = params["smoothness"]["original"]
    tables = {t: json.loads((work / "results" / "smoothness" / preset / t / "alphas.json").read_text())["layers"]
              for t in params["smoothness"]["targets"]}
    assert tables["resnet12"][0]["layer"] == "input" and len(tables["resnet12"]) > 2
    assert all(len(rows) == 1 and rows[0]["layer"] == "fc1" and rows[0]["alpha"] > 0
               for t, rows in tables.items() if t != "resnet12")
    assert tables["resnet12"][-1]["index"] == tables["resnet12_seed1"][0]["index"]


def test_second_repro_is_a_no_op_and_report_is_byte_stable(project):
    work, env, dvc = project
    before = {name: (work / "report" / name).read_bytes() for name in ("index.html", "report.pdf")}
    status = run([dvc, "status"], work, env)
    assert "up to date" in status.stdout, status.stdout
    forced = run([dvc, "repro", "-f", "-s", "report"], work, env)
    assert forced.returncode == 0, forced.stderr
    for name, content in before.items():
        assert (work / "report" / name).read_bytes() == content, name
    assert run([dvc, "status"], work, env).stdout.strip().endswith("up to date.")


def test_a_faithful_rerun_changes_no_result_file(project):
    """Wall times live in timings/, apart from the results: forcing a training and a smoothness stage to run again
    reproduces every result byte for byte, and only the report (which prints the timings) is out of date."""
    work, env, dvc = project
    stages = ["train@plain6", "smoothness@as_reported-resnet12"]
    timings = [work / "timings" / "train" / "plain6.json",
               work / "timings" / "smoothness" / "as_reported" / "resnet12.json"]
    before = {p: p.read_bytes() for p in (work / "results").rglob("*") if p.is_file()}
    old_timings = [t.read_bytes() for t in timings]
    forced = run([dvc, "repro", "-f", "-s", *stages], work, env)
    assert forced.returncode == 0, forced.stderr[-2000:]
    after = {p: p.read_bytes() for p in (work / "results").rglob("*") if p.is_file()}
    assert after == before
    assert [t.read_bytes() for t in timings] != old_timings  # a new measurement, each
    status = run([dvc, "status"], work, env).stdout
    assert "report:" in status, status
    assert not any(f"{s}:" in status for s in ("metrics", "suggest", "overfit", *stages)), status
    assert run([dvc, "repro", "-s", "report"], work, env).returncode == 0


def test_missing_result_is_named(project):
    work, env, _ = project
    summary = work / "results" / "overfit" / "summary.json"
    saved = summary.read_bytes()
    summary.unlink()
    try:
        out = run([sys.executable, "-m", "replication.stages.report"], work, env)
        assert out.returncode == 1
        assert "results/overfit/summary.json is missing" in out.stderr and "dvc repro overfit" in out.stderr
    finally:
        summary.write_bytes(saved)


def test_a_failed_report_write_keeps_the_previous_report(project):
    """A file-size limit (like a full disk) makes the render fail: one line naming the cause, and the
    previous HTML, PDF and figures stay whole and together."""
    work, env, _ = project
    before = {p.relative_to(work): p.read_bytes() for p in (work / "report").rglob("*") if p.is_file()}
    limited = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
               "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
               "from replication.core.errors import run_main; from replication.stages.report import main; "
               "run_main(main)")
    out = run([sys.executable, "-c", limited], work, env)
    assert out.returncode == 1, out.stderr[-2000:]
    assert out.stderr.startswith("error: could not write the report (") and out.stderr.count("\n") == 1
    assert "File too large" in out.stderr or "file-size limit" in out.stderr
    assert "report/ was left as it was" in out.stderr
    after = {p.relative_to(work): p.read_bytes() for p in (work / "report").rglob("*") if p.is_file()}
    assert after == before
    # no staging folder left (the lock file stays: empty of meaning once its holder has exited)
    assert [p.name for p in work.iterdir() if p.name.startswith(".report.")] in ([], [".report.lock"])


def test_killing_dvc_stops_the_stage_and_a_second_run_is_refused(project):
    """SIGTERM to `dvc repro` used to leave the training running as an orphan that kept writing."""
    import signal
    import time

    work, env, dvc = project
    params_file = work / "params.yaml"
    saved = params_file.read_text()
    raw = yaml.safe_load(saved)
    raw["runs"]["resnet12_overfit"]["max_epochs"] = 10_000  # long enough to be killed mid-way
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    lock = work / ".resume" / "train" / "resnet12_overfit.pt.lock"
    outputs = work / "results" / "train" / "resnet12_overfit"
    backup = work.parent / "resnet12_overfit.saved"
    shutil.copytree(outputs, backup)
    kept = {p.name: p.read_bytes() for p in outputs.iterdir()}
    timing = work / "timings" / "train" / "resnet12_overfit.json"
    saved_timing = timing.read_bytes()
    proc = subprocess.Popen([dvc, "repro", "-s", "train@resnet12_overfit"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (work / ".resume" / "train" / "resnet12_overfit.pt").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the training never saved an epoch"
            time.sleep(0.2)
        stage_pid = int(lock.read_text())
        second = run([sys.executable, "-m", "replication.stages.train", "resnet12_overfit"], work, env)
        assert second.returncode == 1
        assert f"training resnet12_overfit is already running (pid {stage_pid}" in second.stderr
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(stage_pid):
            assert time.monotonic() < deadline, "the training outlived dvc"
            time.sleep(0.2)
        # outputs persist: the killed stage leaves the previous ones in place
        assert {p.name: p.read_bytes() for p in outputs.iterdir()} == kept
        assert timing.read_bytes() == saved_timing
    finally:
        if proc.poll() is None:
            proc.kill()
        params_file.write_text(saved)
        shutil.rmtree(work / ".resume" / "train", ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)
        shutil.copytree(backup, outputs)
        timing.write_bytes(saved_timing)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_settings_that_cannot_change_a_result_rerun_nothing_but_the_report(project):
    """Display names are not hashed params of any computing stage; forest processes are not in params.yaml at all
    (they cannot change an alpha), so changing them reruns nothing."""
    work, env, dvc = project
    params_file = work / "params.yaml"
    saved = params_file.read_text()
    raw = yaml.safe_load(saved)
    raw["report"]["titles"]["resnet12"] = "A ResNet by another name"
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        status = run([dvc, "status"], work, env)
        stale = sorted(line.rstrip(":") for line in status.stdout.splitlines() if line and not line[0].isspace())
        assert stale == ["report"], status.stdout
    finally:
        params_file.write_text(saved)


def commit_all(work: Path, env: dict, message: str) -> dict:
    """`git add -A` and commit (an empty commit where nothing changed); the env with a git identity."""
    env = {**env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "add", "-A"], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-qm", message, "--allow-empty"], cwd=work, env=env, check=True,
                   capture_output=True)
    return env


def test_a_queued_experiment_runs_and_its_metrics_compare(project):
    """`dvc exp run --queue` runs in a temporary copy of the project: data/ must reach it from the DVC cache."""
    import json
    import time

    work, env, dvc = project
    env = commit_all(work, env, "tiny results")
    # --dry runs in a temporary copy that DVC does not check data out into; --allow-missing is its remedy
    dry = run([dvc, "exp", "run", "--dry", "--allow-missing", "-S", "report.title=Dry"], work, env)
    assert dry.returncode == 0 and "Running stage 'report'" in dry.stdout, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert "Running stage 'train@" not in dry.stdout  # a report-only setting reruns nothing else
    queued = run([dvc, "exp", "run", "--queue", "-n", "queued-title", "-S", "report.title=Queued"], work, env)
    assert queued.returncode == 0, queued.stderr
    assert run([dvc, "queue", "start", "-j", "1"], work, env).returncode == 0
    deadline = time.monotonic() + 600
    while True:
        status = run([dvc, "queue", "status"], work, env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert "Success" in status, status + run([dvc, "queue", "logs", "queued-title"], work, env).stdout[-3000:]
    shown = json.loads(run([dvc, "exp", "show", "--json"], work, env).stdout)
    text = json.dumps(shown)
    assert "queued-title" in text and "Queued" in text
    assert "fc1_alpha" in text and "mislabel_lowers_alpha" in text  # alphas and verdicts are metrics
    diff = run([dvc, "metrics", "diff"], work, env)
    assert diff.returncode == 0 and diff.stdout.strip() == ""  # the committed state against itself


def test_dvc_plots_shows_the_report_figures_without_the_network(project, tmp_path):
    work, env, dvc = project
    shown = run([dvc, "plots", "show", "-o", str(tmp_path / "plots")], work, env)
    assert shown.returncode == 0, shown.stderr
    html = (tmp_path / "plots" / "index.html").read_text()
    figures = sorted(p.name for p in (work / "report" / "figures").iterdir())
    assert len(figures) > 5 and all(f"report_figures_{name}" in html for name in figures)
    assert "<img" in html and "http://" not in html and "https://" not in html and "<script" not in html


def test_a_bad_setting_given_to_exp_run_loses_no_result(project):
    """DVC removes a stage's outputs before it runs it, unless they persist: a value the stage refuses must leave
    results/ and report/ as they were, and its one error line says how to undo the setting."""
    work, env, dvc = project
    env = commit_all(work, env, "results")

    def files():
        return {p: p.read_bytes() for top in ("results", "report") for p in (work / top).rglob("*") if p.is_file()}

    before = files()
    out = run([dvc, "exp", "run", "-S", "smoothness.lead=nonsense"], work, env)
    try:
        assert out.returncode != 0
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("error:")]
        assert len(errors) == 1, out.stdout[-2000:] + out.stderr[-2000:]
        assert "smoothness.lead" in errors[0] and "nonsense" in errors[0]
        assert "`git checkout -- params.yaml` puts back the committed value" in errors[0]
        assert files() == before
    finally:
        subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=work, env=env, check=True)
    status = run([dvc, "status", "metrics", "report"], work, env).stdout.strip()
    assert status in ("", "Data and pipelines are up to date."), status


def test_report_layout_read_back_from_the_pdf(project):
    """The layout, not only the text: no heading is the last line of a page, no page but the last is more
    than a third empty unless the next starts a section, every figure caption in the PDF names its stages in
    one short line (the stage list and rebuild command are in the HTML, as is params.yaml)."""
    from pdf_layout import layout_faults, pages, text_of

    work, _, _ = project
    html = (work / "report" / "index.html").read_text()
    doc = pages(work / "report" / "report.pdf")
    faults = layout_faults(doc, html)  # sentences the template joins across its lines keep their spaces too
    assert not any(faults.values()), faults
    text = text_of(doc)
    assert text.count("(stages and the rebuild command:") == html.count("<figure>")
    assert "rebuild: dvc repro" not in text and html.count("rebuild: <code>dvc repro -f -s") == html.count("<figure>")
    assert "params.yaml (md5 above), with its comments, is printed in full in the HTML" in text
    assert "@TARGET" not in text and "@RUN" not in text and "@PRESET" not in text
    # a count agrees with its verb
    assert not re.search(r"\b([02-9]|\d\d+) claims (holds|does not hold)\b|\b1 claims\b", text)



def test_gather_names_the_targets_a_preset_has_still_to_compute(project):
    """The claims wait for these (Results.landed): a non-lead preset's stage not run yet is pending, not absent;
    the lead's must all exist (it carries the claims)."""
    from replication.analysis.results import gather
    from replication.core.errors import MissingResult
    from replication.report import settings as cfg

    work, _, _ = project
    params = cfg.load(work / "params.yaml")
    assert gather(params, work, histories=False, retrain=False).pending == {}
    done = work / "results" / "smoothness" / "as_reported" / "resnet12" / "alphas.json"
    aside = done.with_name("aside.json")
    done.rename(aside)
    try:
        assert gather(params, work, histories=False, retrain=False).pending == {"as_reported": ("resnet12",)}
        lead = work / "results" / "smoothness" / "as_run" / "resnet12" / "alphas.json"
        lead.rename(lead.with_name("aside_lead.json"))
        try:
            with pytest.raises(MissingResult, match="dvc repro smoothness@as_run-resnet12"):
                gather(params, work, histories=False, retrain=False)
        finally:
            lead.with_name("aside_lead.json").rename(lead)
    finally:
        aside.rename(done)
