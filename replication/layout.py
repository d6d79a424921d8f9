"""Where every result lives, and how result files are read and written.

The one place that knows the paths: stages, the report, `python -m replication status` and the
benchmarks ask it, and tests/test_structure.py checks that dvc.yaml declares the same outputs.
Every reader of a missing result names the stage that makes it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replication.errors import MissingResult, UserError
from replication.files import read_csv, read_json, write_bytes

if TYPE_CHECKING:  # torch is imported where weights are read or written, so readers of results need none
    import torch

RESULTS = Path("results")
RESUME = Path(".resume")  # per-epoch / per-layer state of interrupted stages (git-ignored)
REPORT = Path("report")
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "seconds"]
ALPHA_COLUMNS = ["index", "layer", "dim", "alpha", "r2", "n_wavelets", "seconds"]


# --------------------------------------------------------------------------- paths


def train_dir(run: str) -> Path:
    """Outputs of train@RUN."""
    return RESULTS / "train" / run


def weights(run: str, which: str) -> Path:
    """Weights of train@RUN: 'final' (restored best) or 'snapshot'."""
    return train_dir(run) / f"{which}.pt"


def train_metrics(run: str) -> Path:
    return train_dir(run) / "metrics.json"


def history(run: str) -> Path:
    return train_dir(run) / "history.csv"


def smoothness_dir(preset: str, target: str) -> Path:
    """Outputs of TARGET's per-layer alphas under estimator PRESET (stage: config's SmoothnessConfig.stage)."""
    return RESULTS / "smoothness" / preset / target


def alphas_json(preset: str, target: str) -> Path:
    return smoothness_dir(preset, target) / "alphas.json"


def alphas_csv(preset: str, target: str) -> Path:
    return smoothness_dir(preset, target) / "alphas.csv"


def input_alpha(preset: str) -> Path:
    """Output of smoothness_input@PRESET: the input layer's alpha, shared by every target."""
    return RESULTS / "smoothness" / preset / "input.json"


def mislabel(preset: str, rate: float) -> Path:
    """Output of mislabel@PRESET-RATE."""
    return RESULTS / "mislabel" / preset / f"{rate}.json"


def mislabel_seed(run: str, preset: str, rate: float) -> Path:
    """Output of mislabel_seeds@RUN-PRESET-RATE: the mislabel study on another training seed."""
    return RESULTS / "mislabel_seeds" / run / preset / f"{rate}.json"


def retrain_dir(rate: float) -> Path:
    """Outputs of retrain@RATE."""
    return RESULTS / "retrain" / str(rate)


OVERFIT = RESULTS / "overfit" / "summary.json"
SUGGESTIONS = RESULTS / "suggestions.json"
ARCHITECTURES = RESULTS / "architectures.json"  # layers, shapes and parameter counts; class names
METRICS = RESULTS / "metrics"  # numbers only: train.json, smoothness.json, mislabel.json, claims.json
METRIC_FILES = ("train", "smoothness", "mislabel", "claims")


def resume_file(stage: str, name: str, suffix: str) -> Path:
    """State of an interrupted stage@name (deleted when the stage finishes)."""
    return RESUME / stage / f"{name}{suffix}"


# --------------------------------------------------------------------------- readers and writers


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
