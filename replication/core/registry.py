"""The registry of the pipeline: every stage family's name, module and outputs, and where every result lives.

The one place that names a stage (`train@RUN`, `smoothness@PRESET-TARGET`, ...) and builds a result path:
stages, the report, the tools and the benchmarks ask it, and tests/test_structure.py checks that the
hand-written dvc.yaml declares the same families, commands and outputs. Every reader of a missing result
names the stage that makes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.core import schemas
from replication.core.errors import MissingResult, UserError
from replication.core.files import NAME_PATTERN, read_csv, read_json

RESULTS = Path("results")
RESUME = Path(".resume")  # per-epoch / per-layer state of interrupted stages (git-ignored)
REPORT_DIR = Path("report")
TIMINGS = Path("timings")  # wall-clock seconds of each stage, apart from its results: no science stage reads them
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy"]
ALPHA_COLUMNS = ["index", "layer", "dim", "alpha", "r2", "n_wavelets"]


# --------------------------------------------------------------------------- paths


def under(top: Path, *names: str | float) -> Path:
    """top/NAME/..., every name checked against NAME_PATTERN: no name (a run, a preset, a rate...) can
    lead outside the project, whatever params.yaml or a command line says. Every result path is built here."""
    for name in names:
        text = str(name)
        if not re.fullmatch(NAME_PATTERN, text) or len(text) > 80:
            raise UserError(f"{text[:60]!r} cannot be part of a path under {top}/: names hold only lower-case "
                            "letters, digits, '_', '.' and '-', and start with a letter or digit")
    return top.joinpath(*map(str, names))


def train_dir(run: str) -> Path:
    """Outputs of train@RUN."""
    return under(RESULTS, "train", run)


def weights(run: str, which: str) -> Path:
    """Weights of train@RUN: 'final' (restored best) or 'snapshot'."""
    return train_dir(run) / f"{which}.pt"


def train_metrics(run: str) -> Path:
    return train_dir(run) / "metrics.json"


def history(run: str) -> Path:
    return train_dir(run) / "history.csv"


def smoothness_dir(preset: str, target: str) -> Path:
    """Outputs of smoothness@PRESET-TARGET: TARGET's per-layer alphas under estimator PRESET."""
    return under(RESULTS, "smoothness", preset, target)


def target_file(target: str) -> Path:
    """Output of target@TARGET: the run and weights a smoothness target names, and their md5."""
    return under(RESULTS, "targets", f"{target}.json")


def alphas_json(preset: str, target: str) -> Path:
    return smoothness_dir(preset, target) / "alphas.json"


def alphas_csv(preset: str, target: str) -> Path:
    return smoothness_dir(preset, target) / "alphas.csv"


def input_alpha(preset: str) -> Path:
    """Output of smoothness_input@PRESET: the input layer's alpha, shared by every target."""
    return under(RESULTS, "smoothness", preset, "input.json")


def mislabel(run: str, preset: str, rate: float) -> Path:
    """Output of mislabel@RUN-PRESET-RATE: the mislabel study of one training run under one estimator preset."""
    return under(RESULTS, "mislabel", run, preset, f"{rate}.json")




def retrain_dir(rate: float) -> Path:
    """Outputs of retrain@RATE."""
    return under(RESULTS, "retrain", rate)


OVERFIT_FILE = RESULTS / "overfit" / "summary.json"
SUGGESTIONS_FILE = RESULTS / "suggestions.json"
ARCHITECTURES_FILE = RESULTS / "architectures.json"  # layers, shapes and parameter counts; class names
METRICS_DIR = RESULTS / "metrics"  # DVC metrics, one small JSON file per quantity (replication/stages/metrics.py)
CLAIMS_TABLE = RESULTS / "claims.csv"  # the claim table: one row per claim (or item), preset; verdicts made once
CLAIMS_EVIDENCE = RESULTS / "claims.json"  # each claim's numbers under each preset, for the report's evidence


# Timings: one file per stage, beside (not inside) its results, so a rerun that reproduces the numbers leaves
# every file under results/ byte-identical; only the report's compute table reads them.


def train_timing(run: str) -> Path:
    return under(TIMINGS, "train", f"{run}.json")


def input_timing(preset: str) -> Path:
    return under(TIMINGS, "smoothness", preset, "input.json")


def smoothness_timing(preset: str, target: str) -> Path:
    return under(TIMINGS, "smoothness", preset, f"{target}.json")




def mislabel_timing(run: str, preset: str, rate: float) -> Path:
    return under(TIMINGS, "mislabel", run, preset, f"{rate}.json")


def retrain_timing(rate: float) -> Path:
    return under(TIMINGS, "retrain", f"{rate}.json")


def without_seconds(row: dict) -> dict:
    """A result row without its wall time (which goes to the stage's timing file)."""
    return {k: v for k, v in row.items() if k != "seconds"}


def resume_file(stage: str, name: str, suffix: str) -> Path:
    """State of an interrupted stage@name (deleted when the stage finishes)."""
    return under(RESUME, stage, f"{name}{suffix}")


# --------------------------------------------------------------------------- readers and writers


def figure(folder: Path, name: str) -> Path:
    """A report figure, folder/NAME.svg (NAME from params.yaml's report keys: checked like every name)."""
    return under(folder, f"{name}.svg")


def need(path: Path, stage: str, root: Path = Path(".")) -> Any:
    """A JSON or CSV result that fits its schema (core/schemas.py), or MissingResult naming the stage to run."""
    full = root / path
    if not full.exists():
        raise MissingResult(f"{path} is missing: run `dvc repro {stage}` first")
    data = read_json(full) if full.suffix == ".json" else read_csv(full)
    return schemas.check(Path(path).as_posix(), data, stage)


# --------------------------------------------------------------------------- stage families


@dataclass(frozen=True)
class Family:
    """A dvc.yaml stage family: its name, the module its command runs, the keys after '@' (joined by '-'), and
    its outputs for given keys (the paths above; dvc.yaml lists the same, a test holds it)."""

    name: str
    module: str
    keys: tuple[str, ...] = ()
    outputs: Any = None  # keys -> list of output paths

    def stage(self, *keys: str | float) -> str:
        """The stage's name for these keys: `name@KEY1-KEY2...` (just `name` for a stage without keys)."""
        if len(keys) != len(self.keys):
            raise ValueError(f"stage {self.name} takes {len(self.keys)} keys ({', '.join(self.keys)}), got {keys}")
        return f"{self.name}@{'-'.join(map(str, keys))}" if keys else self.name

    def outs(self, *keys: str | float) -> list[Path]:
        return list(self.outputs(*keys))


TRAIN = Family("train", "replication.stages.train", ("run",), lambda run: [
    weights(run, "final"), weights(run, "snapshot"), train_metrics(run), history(run), train_timing(run)])
ARCHITECTURES = Family("architectures", "replication.stages.architectures", (), lambda: [ARCHITECTURES_FILE])
TARGET = Family("target", "replication.stages.target", ("target",), lambda target: [target_file(target)])
SMOOTHNESS_INPUT = Family("smoothness_input", "replication.stages.smoothness", ("preset",), lambda preset: [
    input_alpha(preset), input_timing(preset)])
SMOOTHNESS = Family("smoothness", "replication.stages.smoothness", ("preset", "target"), lambda preset, target: [
    alphas_json(preset, target), alphas_csv(preset, target), smoothness_timing(preset, target)])
MISLABEL = Family("mislabel", "replication.stages.mislabel", ("run", "preset", "rate"), lambda run, preset, rate: [
    mislabel(run, preset, rate), mislabel_timing(run, preset, rate)])
RETRAIN = Family("retrain", "replication.stages.retrain", ("rate",), lambda rate: [
    retrain_dir(rate), retrain_timing(rate)])
OVERFIT = Family("overfit", "replication.stages.overfit", (), lambda: [OVERFIT_FILE])
SUGGEST = Family("suggest", "replication.stages.suggest", (), lambda: [SUGGESTIONS_FILE])
METRICS = Family("metrics", "replication.stages.metrics", (), lambda: [CLAIMS_TABLE, CLAIMS_EVIDENCE, METRICS_DIR])
REPORT = Family("report", "replication.stages.report", (), lambda: [
    REPORT_DIR / "report.pdf", REPORT_DIR / "index.html", REPORT_DIR / "report.css", REPORT_DIR / "manifest.json",
    REPORT_DIR / "figures"])
FAMILIES = (TRAIN, ARCHITECTURES, TARGET, SMOOTHNESS_INPUT, SMOOTHNESS, MISLABEL, RETRAIN, OVERFIT, SUGGEST,
            METRICS, REPORT)
