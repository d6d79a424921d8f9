"""What a setting would rerun and about how long it would take, without running it or touching the project:

    python -m replication whatif -S smoothness.lead=corrected [-S KEY=VALUE ...]

The settings are applied with DVC's own `-S` code to a copy of params.yaml in a scratch folder that links to
everything else of the project. DVC loads the pipeline there once (no file is hashed), and a stage would rerun
when DVC would call its params changed: it is not in dvc.lock yet (a new preset, network or rate), or one of
the keys it declares has another value than dvc.lock records for it; every stage downstream of one reruns too.
Stages whose params are already out of date without the settings (params.yaml edited, not reproduced) are
listed apart, as are stages that never ran and whose params the settings leave alone (they run anyway: `dvc
status` lists them); a stage that never ran, with params the settings change, counts as one they would run. A
stage's cost is the wall time in its own timing file under `timings/` (one of its outputs); a stage that never
ran is given, marked `~`, the median of the recorded stages of its family with the same preset and network,
else the same network without its seed (seed 0's cost), else the same preset, else the family. Changes to data
or code files are `dvc status`'s business, not this tool's.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.core import settings as core_cfg
from replication.core.errors import UserError
from replication.core.files import read_json, read_regular
from replication.report import settings as cfg
from replication.report.provenance import MAX_LOCK_BYTES, lock_stages

KEEP_OUT = {"params.yaml", ".dvc", ".git", "dvc.lock"}  # the lock is read once, here (_locked), not by DVC too
SEED = re.compile(r"_seed\d+")
SCRATCH = re.compile(r"(?:\.\./)*[^\s'\"]*replication-whatif\.[A-Za-z0-9_]+/?")
MISSING = object()


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float  # NaN where nothing is recorded or estimable
    estimate: bool  # never ran here: a median of comparable stages


@dataclass(frozen=True)
class Answer:
    would: list[Stage]  # stages the settings would rerun, in pipeline order
    already: list[str]  # stages whose params are out of date without the settings


def _scratch(root: Path, folder: Path) -> None:
    """`folder` as a DVC project without git: links to `root`'s files, its own params.yaml and .dvc."""
    for entry in root.iterdir():
        if entry.name not in KEEP_OUT:
            (folder / entry.name).symlink_to(entry.resolve())
    shutil.copy2(root / "params.yaml", folder / "params.yaml")
    (folder / ".dvc").mkdir()
    if (root / ".dvc" / "config").exists():
        shutil.copy2(root / ".dvc" / "config", folder / ".dvc" / "config")
    (folder / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")


def precheck(overrides: list[str], params: dict) -> None:
    """The refusals DVC's -S would make, in its words, before DVC is imported (seconds): a key that is not in
    params.yaml needs a `+`, and a setting needs a `=`."""
    for text in overrides:
        if text.startswith(("+", "~")):  # an added or deleted key: DVC's own code judges it
            continue
        key, sep, value = text.partition("=")
        if not sep:
            raise UserError(f"-S {text[:80]}: a setting is KEY=VALUE (see `dvc exp run --help`)")
        if _value(params, key) is MISSING:
            raise UserError(f"-S {text[:80]}: Could not override '{key}'. To append to your config use "
                            f"+{key}={value}"[:320])


def _apply(folder: Path, overrides: list[str]) -> None:
    """DVC's own -S on the scratch params.yaml; its error in DVC's words (the missing key and the `+` hint)."""
    from dvc.utils.hydra import apply_overrides

    try:
        apply_overrides(str(folder / "params.yaml"), overrides)
    except Exception as err:  # hydra's parser and DVC raise several types for a malformed override
        reason = SCRATCH.sub("", " ".join(str(err.__cause__ or err).split()))
        raise UserError(f"-S {' '.join(overrides)[:80]}: {reason[:240]}") from None


def _value(params: dict, key: str) -> Any:
    """params[a][b]... for the dotted key `a.b...`; MISSING where a part is absent."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _locked(root: Path) -> dict[str, dict]:
    """Stage name -> its dvc.lock entry (empty where the pipeline never ran)."""
    path = root / "dvc.lock"
    if not path.exists():
        return {}
    return lock_stages(read_regular(path, MAX_LOCK_BYTES, "dvc.lock").decode("utf-8", "replace"))


def _params_deps(stage) -> list[tuple[str, list[str]]]:
    """Each params file a stage declares, with its keys ([] where the file is declared whole: `- params.yaml:`)."""
    from dvc.dependency import ParamsDependency

    return [(str(dep.def_path), list(dep.params or [])) for dep in stage.deps if isinstance(dep, ParamsDependency)]


def _declared(stage) -> list[str | None]:
    """The params keys a stage declares; None for a params file declared whole."""
    return [key for _, keys in _params_deps(stage) for key in (keys or [None])]


def _moved(stage, before: dict, after: dict) -> bool:
    """Whether the settings give one of the stage's declared keys another value (or a key that was not there)."""
    return any(before != after if key is None else
               _value(before, key) is MISSING or _value(before, key) != _value(after, key) for key in _declared(stage))


def _params_changed(stage, params: dict, locked: dict) -> bool:
    """DVC's test for changed params: a stage not in dvc.lock, or a key it declares whose value moved."""
    entry = locked.get(stage.name)
    if not isinstance(entry, dict):
        return True
    recorded = entry.get("params") or {}
    for path, keys in _params_deps(stage):
        was = recorded.get(path, {})
        if not keys and was != params:  # the whole file is declared: DVC records and compares all of it
            return True
        for key in keys:
            now = _value(params, key)
            if now is MISSING or was.get(key, MISSING) != now:
                return True
    return False


def _seconds(path: Path) -> float:
    """A timing file's wall time: its `seconds`, else the sum over its layers; NaN where there is none."""
    if not path.is_file():
        return math.nan
    try:
        timing = read_json(path)
    except UserError:
        return math.nan
    if not isinstance(timing, dict):
        return math.nan
    seconds = timing.get("seconds")
    if seconds is None and isinstance(timing.get("layers"), dict):
        seconds = sum(v for v in timing["layers"].values() if isinstance(v, (int, float)))
    return float(seconds) if isinstance(seconds, (int, float)) else math.nan


def _timing_path(stage) -> Path | None:
    for out in stage.outs:
        if Path(str(out.def_path)).parts[:1] == ("timings",):
            return Path(str(out.def_path))
    return None


def _costs(stages: list, root: Path) -> dict[str, Stage]:
    """Each stage's recorded wall time; for a stage never timed, the median of its family on the same last key
    (the network), else of its whole family."""
    paths = {st.name: _timing_path(st) for st in stages}
    recorded = {name: _seconds(root / path) if path else math.nan for name, path in paths.items()}

    def tiers(name: str) -> list[tuple]:
        """Keys of ever wider groups of comparable stages: the same first and last key (preset and network),
        the same first key and the network without its seed (a new seed costs what seed 0 cost), the same
        first key, the family."""
        head, _, keys = name.partition("@")
        parts = keys.split("-") if keys else [""]
        return [(head, parts[0], parts[-1]), (head, parts[0], SEED.sub("", parts[-1])), (head, parts[0]), (head,)]

    known = {name: tiers(name) for name, seconds in recorded.items() if not math.isnan(seconds)}
    out = {}
    for name, seconds in recorded.items():
        if not math.isnan(seconds) or paths[name] is None:
            out[name] = Stage(name, seconds, False)
            continue
        for level, key in enumerate(tiers(name)):
            kin = [recorded[n] for n, keys in known.items() if keys[level] == key]
            if kin:
                out[name] = Stage(name, statistics.median(kin), True)
                break
        else:
            out[name] = Stage(name, math.nan, True)
    return out


def what_if(overrides: list[str], root: Path = Path("."), check: bool = True) -> Answer:
    """The stages `overrides` (DVC's -S syntax) would rerun, with their costs, and those already out of date."""
    root = Path(root).resolve()
    if not (root / "dvc.yaml").exists():
        raise UserError(f"{root}: no dvc.yaml here; run from the project's root")
    now = core_cfg.read(root / "params.yaml")
    precheck(overrides, now)
    locked = _locked(root)
    with tempfile.TemporaryDirectory(prefix="replication-whatif.") as tmp:
        folder = Path(tmp)
        _scratch(root, folder)
        _apply(folder, overrides)
        if check:  # a value the project refuses is named before DVC is asked
            try:
                cfg.load(folder / "params.yaml")
            except UserError as err:
                raise UserError(str(err).replace(str(folder / "params.yaml"), "params.yaml with the settings")) \
                    from None
        after = core_cfg.read(folder / "params.yaml")
        import networkx as nx
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        try:
            with Repo(str(folder)) as repo:
                from dvc.stage import PipelineStage

                stages = [st for st in repo.index.stages if isinstance(st, PipelineStage)]  # not data.dvc
                graph = repo.index.graph  # edges run from a stage to the stages it depends on
                # a stage that never ran, with params the settings leave alone, runs anyway (dvc status lists it)
                waiting = {st for st in stages if st.name not in locked and not _moved(st, now, after)}
                changed = {st for st in stages if st not in waiting and _params_changed(st, after, locked)}
                stale = {st.name for st in stages if st.name in locked and _params_changed(st, now, locked)}
                stale |= {st.name for st in waiting}
                reruns = set(changed)
                for st in changed:
                    reruns |= {up for up in nx.ancestors(graph, st) if isinstance(up, PipelineStage)}
                order = [st for st in reversed(list(nx.topological_sort(graph))) if st in reruns]
                costs = _costs(stages, root)
        except DvcException as err:  # a broken dvc.yaml, .dvc file or config: named as the project's file
            raise UserError(f"{scratch_free(err)}; `dvc status` in the project shows the same") from None
    names = [st.name for st in order]
    return Answer([costs[n] for n in names if n not in stale], sorted(stale))


def scratch_free(err: BaseException) -> str:
    """DVC's message, on one line, with the scratch folder's paths written as the project's own."""
    parts = [str(err)] + ([str(err.__cause__)] if err.__cause__ and str(err.__cause__) not in str(err) else [])
    return SCRATCH.sub("", " ".join(" ".join(parts).split()))[:400]


def hours(seconds: float) -> str:
    if math.isnan(seconds):
        return "not timed"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def report(overrides: list[str], root: Path = Path("."), check: bool = True) -> str:
    """The answer as text: a total, then one stage per line with its recorded (or estimated, `~`) wall time."""
    answer = what_if(overrides, root, check)
    would = answer.would
    known = [s.seconds for s in would if not math.isnan(s.seconds)]
    total = sum(known)
    guessed = sum(1 for s in would if s.estimate)
    unknown = sum(1 for s in would if math.isnan(s.seconds))
    head = f"with {', '.join(overrides)}: {len(would)} stage{'s' if len(would) != 1 else ''} would rerun"
    if known:
        head += f", about {hours(total)} on the machines that recorded them"
    notes = [f"{guessed} estimated from comparable stages (~)"] if guessed else []
    notes += [f"{unknown} not timed"] if unknown else []
    head += f" ({'; '.join(notes)})" if notes else ""
    width = max((len(s.name) for s in would), default=0)
    lines = [head] + [f"  {s.name:<{width}}  {'~' if s.estimate else ' '}{hours(s.seconds)}" for s in would]
    if answer.already:
        lines.append(f"already out of date without it ({len(answer.already)}): {', '.join(answer.already[:8])}"
                     f"{', ...' if len(answer.already) > 8 else ''}")
    return "\n".join(lines)
