"""Where a report comes from: the commit, dvc.lock's stages, params.yaml, the data hash, every result
file's md5 and the package versions, as the report's appendix and manifest print them."""


from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

from replication.core import registry as layout
from replication.core.errors import UserError
from replication.core.files import file_md5, load_yaml, read_regular, recorded_md5
from replication.report import settings as cfg

MAX_LOCK_BYTES = 64 << 20  # dvc.lock of the full study is about 1 MB

PACKAGES = ["torch", "torchvision", "numpy", "scikit-learn", "numba", "dvc", "matplotlib", "jinja2", "weasyprint",
            "pydantic"]


def compact_sources(made: list[tuple[str, str]], most: int = 12) -> dict:
    """A figure's (stage, result file) pairs for its caption: a stage group with more than `most` members
    is named once (`mislabel@*, 50 stages`, linked to their common folder) and rebuilt by its group
    name, which `dvc repro` accepts; fewer are listed one by one. `summary`: one short line for print
    (each group once, with its count)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for stage, path in made:
        groups.setdefault(stage.split("@")[0], []).append((stage, path))
    links, command = [], []
    for group, members in groups.items():
        if len(members) > most:
            folder = os.path.commonpath([path for _, path in members])
            links.append((f"{group}@* ({len(members)} stages)", folder))
            command.append(group)
        else:
            links += members
            command += [stage for stage, _ in members]
    summary = ", ".join(members[0][0] if len(members) == 1 else f"{group}@* ({len(members)})"
                        for group, members in groups.items())
    return {"links": links, "command": " ".join(command), "summary": summary}


def pinned_versions(constraints: Path) -> dict[str, str]:
    """Package -> version pinned in constraints.txt (the environment the results were made in)."""
    pins = {}
    if constraints.exists():
        text = read_regular(constraints, MAX_LOCK_BYTES, "constraints.txt").decode("utf-8", "replace")
        for line in text.splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.startswith("#"):
                pins[name.strip().lower()] = version.strip()
    return pins


def git_state(root: Path = Path(".")) -> dict:
    """The commit the report is rendered from, whether tracked files differ from it, and the date of the
    last commit that changed results/ (None outside a git repository or before the first commit)."""
    def git(*args: str) -> str | None:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return out.stdout.rstrip() if out.returncode == 0 else None  # status lines start with a space

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None, "results_date": None}
    # the report's own outputs, and its own entry in dvc.lock (DVC rewrites it around the run), are this
    # render's doing: they do not count as a change
    changed = [line[3:] for line in (git("status", "--porcelain", "--untracked-files=no") or "").splitlines()
               if not line[3:].startswith(f"{layout.REPORT_DIR}/")]
    if "dvc.lock" in changed and lock_hash(root) == _lock_stages_md5(git("show", "HEAD:dvc.lock") or "",
                                                                    "dvc.lock at HEAD"):
        changed.remove("dvc.lock")
    return {"commit": commit, "dirty": bool(changed),
            "results_date": git("log", "-1", "--format=%cs", "--", str(layout.RESULTS)) or None}


def lock_hash(root: Path = Path(".")) -> str | None:
    """md5 of dvc.lock's stages other than the report (whose entry records this render's outputs: it
    cannot be hashed by the render itself)."""
    path = root / "dvc.lock"
    if not path.exists():
        return None
    return _lock_stages_md5(read_regular(path, MAX_LOCK_BYTES, "dvc.lock").decode("utf-8", "replace"))


def lock_stages(text: str, source: str = "dvc.lock") -> dict:
    """dvc.lock's `stages` mapping, read with the guarded YAML reader (no alias bomb, duplicate key or conflict
    marker gets through); one line naming `source` otherwise. The one reader of dvc.lock (report, compare,
    whatif)."""
    lock = load_yaml(text, source)
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict):
        raise UserError(f"{source}: no `stages` mapping; restore it with `git checkout -- dvc.lock`")
    return stages


def _lock_stages_md5(text: str, source: str = "dvc.lock") -> str:
    stages = dict(lock_stages(text, source)) if text else {}
    stages.pop("report", None)
    return hashlib.md5(json.dumps(stages, sort_keys=True).encode()).hexdigest()


def result_hashes(root: Path = Path(".")) -> dict[str, str]:
    """Path (relative to root) -> md5 of every file under results/, in path order."""
    files = sorted(p for p in (root / layout.RESULTS).rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): file_md5(p) for p in files}


def provenance(params: cfg.Params, root: Path = Path(".")) -> dict:
    """Params, data hash, content hashes of every input file, pinned and installed package versions."""
    pins = pinned_versions(root / "constraints.txt")
    versions = {}
    for pkg in PACKAGES:
        try:
            installed = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        pinned = pins.get(pkg.lower(), "not pinned")
        versions[pkg] = pinned if installed == pinned else f"{pinned} (rendered with {installed})"
    return {
        # as committed, with its comments
        "params_yaml": read_regular(root / "params.yaml", MAX_LOCK_BYTES, "params.yaml").decode("utf-8", "replace"),
        "data_hash": recorded_md5(root / "data.dvc"),
        "files": [{"path": path, "md5": md5} for path, md5 in result_hashes(root).items()],
        "params_md5": file_md5(root / "params.yaml"),
        "lock_md5": lock_hash(root), **git_state(root),
        "constraints_md5": file_md5(root / "constraints.txt") if (root / "constraints.txt").exists() else None,
        "versions": versions,
    }

