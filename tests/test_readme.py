"""The README's commands, run as a newcomer would: every shell command of its code blocks is either run in
a scratch clone of the committed project or skipped for a stated reason, so the README cannot drift from
the code. With the real CIFAR-10 beside the project (../shared/data, as in CI) the DVC commands run on
the committed results; without it only the commands that need no data run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "cifar-10-batches-py"
# Commands not run here, each with its reason; any other command in the README must run.
SKIPPED = {
    "make setup && source .venv/bin/activate": "the environment this test runs in",
    "python -m replication.tools.data fetch": "downloads (no network in CI); `fetch --from` is run instead",
    "dvc queue start": "runs a queued experiment: hours of forests",
    "make test": "this suite",
}
NEEDS_DATA = ("dvc ", "git checkout", "python -m replication.tools.data", "python -m replication compare",
              "python -m replication whatif")


def readme_commands() -> list[str]:
    """Shell commands of the README's ```bash blocks, comments stripped, one per line."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = (line.split("  #")[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def readme_python() -> str:
    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return block


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme") / "project"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    np.save(work / "FEATURES.npy", np.eye(3)[labels] + rng.normal(size=(300, 3)))
    np.save(work / "LABELS.npy", labels)
    with open(work / ".git" / "info" / "exclude", "a") as f:
        f.write("FEATURES.npy\nLABELS.npy\n")
    return work


def shell(cmd: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(cwd), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_readme_command_is_run_or_skipped_for_a_reason():
    commands = readme_commands()
    assert len(commands) >= 15 and set(SKIPPED) <= set(commands)


def test_the_commands_that_need_no_data(clone):
    for cmd in readme_commands():
        if cmd in SKIPPED or cmd.startswith(NEEDS_DATA):
            continue
        out = shell(cmd, clone)
        assert out.returncode == 0, f"{cmd}\n{out.stderr[-2000:]}"
    out = shell(f"{sys.executable} -c '{readme_python()}\nprint(result.alpha)'".replace(
        "besov_alpha(features, labels", "besov_alpha(np.load(\"FEATURES.npy\"), np.load(\"LABELS.npy\")").replace(
        "from replication.estimator.wavelets", "import numpy as np\nfrom replication.estimator.wavelets"), clone)
    assert out.returncode == 0 and float(out.stdout.split()[-1]) > 0, out.stderr[-2000:]


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="the real CIFAR-10 is not beside the project")
def test_the_first_hour_on_the_committed_results(clone):
    """In order, as the README gives them: fetch, a `dvc status` that lists only stages never run (README step 4),
    the experiment and back, the pipeline
    and settings commands (a queued experiment is only queued)."""
    fetch = shell(f"{sys.executable} -m replication.tools.data fetch --from {REAL_DATA}", clone)
    assert fetch.returncode == 0, fetch.stderr[-2000:]
    status = shell("dvc status --json", clone)
    assert status.returncode == 0, status.stderr[-2000:]
    listed = set(json.loads(status.stdout or "{}"))
    locked = set(yaml.safe_load((clone / "dvc.lock").read_text())["stages"])
    assert not listed & locked, sorted(listed & locked)[:5]  # every stage that ran matches dvc.lock
    queued = shell(f"{sys.executable} -m replication status", clone)  # the rest never ran: it names each
    assert queued.returncode == 0 and all(name in queued.stdout for name in listed), queued.stderr[-2000:]
    for cmd in readme_commands():
        if cmd in SKIPPED or not cmd.startswith(NEEDS_DATA):
            continue
        cmd = cmd.replace("fetch --from PATH", f"fetch --from {REAL_DATA}")
        out = shell(cmd, clone)
        assert out.returncode == 0, f"{cmd}\n{out.stdout[-1000:]}\n{out.stderr[-2000:]}"
        if cmd.startswith("python -m replication compare"):
            assert "| My replication |" in out.stdout and "## Lead verdicts that changed (0;" in out.stdout
        lines = out.stdout.splitlines()
        if cmd.startswith("python -m replication whatif -S smoothness.lead"):
            # the lead is a view: only the stages that read it
            assert lines[0].startswith("with smoothness.lead=corrected: 2 stages would rerun"), out.stdout
            assert [line.split()[0] for line in lines[1:3]] == ["metrics", "report"], out.stdout
        elif cmd.startswith("python -m replication whatif"):  # a preset's field: every stage of it, with a total
            assert re.match(r"with \+smoothness\.presets\.as_reported\.n_trees=5: \d+ stages would rerun, about "
                            r"[\d.]+ h", lines[0]), out.stdout
            reruns = out.stdout.split("already out of date")[0]
            assert "smoothness_input@as_reported" in reruns and "smoothness@as_run" not in reruns
    assert shell("git status --porcelain", clone).stdout.strip() == ""
    queued = shell("dvc queue status", clone).stdout
    assert "Queued" in queued
