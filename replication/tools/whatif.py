"""What a setting would rerun, without running it or touching the project:

    python -m replication whatif -S smoothness.lead=corrected [-S KEY=VALUE ...]

The settings are applied with DVC's own `-S` code to a copy of params.yaml in a scratch folder that links
to everything else of the project (its own `.dvc` folder uses the project's cache, without git), and DVC's
status is asked there, once as the project stands and once with the settings: the stages the settings
would rerun, and those already out of date. `dvc exp run --dry` cannot do this here: its temporary copy
has no data.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from replication.core.errors import UserError
from replication.report import settings as cfg

KEEP_OUT = {"params.yaml", ".dvc", ".git"}


def _scratch(root: Path, folder: Path, cache: str) -> None:
    """`folder` as a DVC project without git: links to `root`'s files, its own params.yaml and .dvc."""
    for entry in root.iterdir():
        if entry.name not in KEEP_OUT:
            (folder / entry.name).symlink_to(entry.resolve())
    shutil.copy2(root / "params.yaml", folder / "params.yaml")
    (folder / ".dvc").mkdir()
    if (root / ".dvc" / "config").exists():
        shutil.copy2(root / ".dvc" / "config", folder / ".dvc" / "config")
    (folder / ".dvc" / "config.local").write_text(f"[core]\n    no_scm = true\n[cache]\n    dir = {cache}\n")


def _out_of_date(folder: Path) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(folder)) as repo:  # names come as PATH/dvc.yaml:STAGE, relative to the working directory
        return {name.rsplit("dvc.yaml:", 1)[-1] for name in repo.status()}


def what_if(overrides: list[str], root: Path = Path("."), check: bool = True) -> tuple[list[str], list[str]]:
    """(stages the settings would rerun, stages already out of date) for `overrides` in DVC's -S syntax."""
    from dvc.repo import Repo
    from dvc.utils.hydra import apply_overrides

    root = Path(root).resolve()
    if not (root / "dvc.yaml").exists():
        raise UserError(f"{root}: no dvc.yaml here; run from the project's root")
    with Repo(str(root)) as repo:
        cache = repo.cache.local_cache_dir
    with tempfile.TemporaryDirectory(prefix="replication-whatif.") as tmp:
        folder = Path(tmp)
        _scratch(root, folder, cache)
        now = _out_of_date(folder)
        try:
            apply_overrides(str(folder / "params.yaml"), overrides)
        except Exception as err:  # hydra's parser and DVC raise several types for a malformed override
            raise UserError(f"-S {' '.join(overrides)[:80]}: {' '.join(str(err).split())[:200]}") from None
        if check:  # a value the project refuses is named before DVC is asked
            try:
                cfg.load(folder / "params.yaml")
            except UserError as err:
                named = str(err).replace(str(folder / "params.yaml"), "params.yaml with the settings")
                raise UserError(named) from None
        after = _out_of_date(folder)
    return sorted(after - now), sorted(now)


def report(overrides: list[str], root: Path = Path(".")) -> str:
    """The answer as text: one stage per line."""
    would, already = what_if(overrides, root)
    lines = [f"with {', '.join(overrides)}: {len(would)} stage{'s' if len(would) != 1 else ''} would rerun"]
    lines += [f"  {stage}" for stage in would]
    if already:
        lines.append(f"already out of date without it ({len(already)}): {', '.join(already[:8])}"
                     f"{', ...' if len(already) > 8 else ''}")
    return "\n".join(lines)
