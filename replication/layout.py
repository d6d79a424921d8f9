"""Where every result lives, and how result files are read and written.

The one place that knows the paths: stages, the report, `python -m replication status` and the
benchmarks ask it, and tests/test_structure.py checks that dvc.yaml declares the same outputs.
Every reader of a missing result names the stage that makes it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replication.errors import MissingResult, UserError
from replication.files import NAME_PATTERN, read_csv, read_json, write_bytes

if TYPE_CHECKING:  # torch is imported where weights are read or written, so readers of results need none
    import torch

RESULTS = Path("results")
RESUME = Path(".resume")  # per-epoch / per-layer state of interrupted stages (git-ignored)
REPORT = Path("report")
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
    """Outputs of TARGET's per-layer alphas under estimator PRESET (stage: config's SmoothnessConfig.stage)."""
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


def last_layer(preset: str, target: str) -> Path:
    """Output of last_layer@TARGET: the last layer's alpha of TARGET under the original's estimator PRESET."""
    return under(RESULTS, "last_layer", preset, f"{target}.json")


def retrain_dir(rate: float) -> Path:
    """Outputs of retrain@RATE."""
    return under(RESULTS, "retrain", rate)


OVERFIT = RESULTS / "overfit" / "summary.json"
SUGGESTIONS = RESULTS / "suggestions.json"
ARCHITECTURES = RESULTS / "architectures.json"  # layers, shapes and parameter counts; class names
METRICS = RESULTS / "metrics"  # DVC metrics, one small JSON file per quantity (replication/metrics.py)


# Timings: one file per stage, beside (not inside) its results, so a rerun that reproduces the numbers leaves
# every file under results/ byte-identical; only the report's compute table reads them.


def train_timing(run: str) -> Path:
    return under(TIMINGS, "train", f"{run}.json")


def input_timing(preset: str) -> Path:
    return under(TIMINGS, "smoothness", preset, "input.json")


def smoothness_timing(preset: str, target: str) -> Path:
    return under(TIMINGS, "smoothness", preset, f"{target}.json")


def last_layer_timing(preset: str, target: str) -> Path:
    return under(TIMINGS, "last_layer", preset, f"{target}.json")


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
    """A JSON or CSV result, or MissingResult naming the stage to run."""
    full = root / path
    if not full.exists():
        raise MissingResult(f"{path} is missing: run `dvc repro {stage}` first")
    return read_json(full) if full.suffix == ".json" else read_csv(full)


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """torch.save through memory, then an atomic write: the archive's inner folder name is fixed
    ("archive"), so the same tensors always give the same bytes (a temp file name would leak in)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_state(path: Path, what: str) -> dict:
    """A torch file of tensors and plain containers (weights_only), naming the file when it is bad."""
    import torch

    if not path.exists():
        raise MissingResult(f"{path}: missing; {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle error, empty file: torch raises many types
        reason = (str(err).splitlines() or [""])[0][:200]
        raise UserError(f"{path}: unreadable ({type(err).__name__}: {reason}); "
                        f"delete it and rerun; {what}") from err


def load_weights(model: torch.nn.Module, state: Any, path: Path, what: str) -> None:
    """Load `state` (read from `path`) into `model`, or a UserError naming the file when its keys, shapes or
    types do not fit the network (a file from another network, or edited)."""
    import torch

    expected = model.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: does not hold a network's weights (a mapping of names to tensors); {what}")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and (state[k].shape != expected[k].shape
                                                   or state[k].dtype != expected[k].dtype)]
    if missing or extra or wrong:
        first = (f"missing {missing[0]!r}" if missing else f"unexpected {str(extra[0])[:40]!r}" if extra else
                 f"{wrong[0]!r} is {tuple(state[wrong[0]].shape)} {state[wrong[0]].dtype}, the network needs "
                 f"{tuple(expected[wrong[0]].shape)} {expected[wrong[0]].dtype}")
        raise UserError(f"{path}: weights do not fit the network ({first}); {what}")
    model.load_state_dict(state)
