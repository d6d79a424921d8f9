"""One-off migration (December 2026): move wall-clock seconds out of the result files into timings/.

Results made before this change kept each stage's wall time inside its science outputs (alphas.json and
alphas.csv per layer, input.json and last_layer files per row, train metrics.json and history.csv), so a
rerun that reproduced every number still changed those files. The mislabel stages kept none: their timing files
say "not recorded". This rewrites each such file exactly as the
current stages write it (same writer, same columns, same key order) and puts the seconds in the stage's
timing file (replication/core/registry.py, TIMINGS). No number other than a wall time is touched; a file already
migrated is left as it is, so running it twice changes nothing.

    python migrations/split_timings.py [ROOT]       # then `dvc commit` the stages whose outputs moved
"""

from __future__ import annotations

import sys
from pathlib import Path

from replication.core import registry as layout
from replication.core.files import read_csv, read_json, write_csv, write_json


def last_layer_file(preset: str, target: str) -> Path:
    """Where stage last_layer@TARGET wrote its result (the stage is now smoothness@PRESET-TARGET:
    migrations/fold_last_layer.py moved them)."""
    return layout.under(layout.RESULTS, "last_layer", preset, f"{target}.json")


def last_layer_timing_file(preset: str, target: str) -> Path:
    return layout.under(layout.TIMINGS, "last_layer", preset, f"{target}.json")


def _timing(path: Path, **seconds) -> None:
    if not path.exists():  # a timing written by a stage is never replaced by a migrated one
        write_json(path, seconds)


def train(root: Path, run: str) -> bool:
    metrics_path, history_path = root / layout.train_metrics(run), root / layout.history(run)
    metrics, history = read_json(metrics_path), read_csv(history_path)
    if "seconds" not in metrics and (not history or "seconds" not in history[0]):
        return False
    _timing(root / layout.train_timing(run), seconds=metrics.get("seconds"),
            epochs=[float(row["seconds"]) for row in history if "seconds" in row])
    write_json(metrics_path, {k: v for k, v in metrics.items() if k != "seconds"})
    write_csv(history_path, history, layout.HISTORY_COLUMNS)  # strings as read: the same text back
    return True


def smoothness_input(root: Path, preset: str) -> bool:
    path = root / layout.input_alpha(preset)
    shared = read_json(path)
    if "seconds" not in shared["row"]:
        return False
    _timing(root / layout.input_timing(preset), seconds=shared["row"]["seconds"])
    write_json(path, {**shared, "row": layout.without_seconds(shared["row"])})
    return True


def smoothness(root: Path, preset: str, target: str) -> bool:
    path = root / layout.alphas_json(preset, target)
    alphas = read_json(path)
    if not any("seconds" in row for row in alphas["layers"]):
        return False
    rows = alphas["layers"]
    _timing(root / layout.smoothness_timing(preset, target), layers={r["layer"]: r["seconds"] for r in rows[1:]})
    write_json(path, {**alphas, "layers": [layout.without_seconds(r) for r in rows]})
    write_csv(root / layout.alphas_csv(preset, target), rows, layout.ALPHA_COLUMNS)
    return True


def last_layer(root: Path, preset: str, target: str) -> bool:
    path = root / last_layer_file(preset, target)
    result = read_json(path)
    if "seconds" not in result["row"]:
        return False
    _timing(root / last_layer_timing_file(preset, target), seconds=result["row"]["seconds"])
    write_json(path, {**result, "row": layout.without_seconds(result["row"])})
    return True


def mislabel(root: Path, path: Path) -> bool:
    """The mislabel stages recorded no wall time: their timing file says so (a stage's outputs must all exist)."""
    run, preset, rate = path.parent.parent.name, path.parent.name, float(path.stem)
    timing = root / layout.mislabel_timing(run, preset, rate)
    if timing.exists():
        return False
    _timing(timing, seconds=None, note="not recorded: the stage ran before wall times were kept")
    return True


def migrate(root: Path) -> list[Path]:
    """Every result file under root/results that still holds seconds, migrated; the files changed."""
    results = root / layout.RESULTS
    changed: list[Path] = []
    for metrics in sorted((results / "train").glob("*/metrics.json")):
        if train(root, metrics.parent.name):
            changed += [layout.train_metrics(metrics.parent.name), layout.history(metrics.parent.name)]
    for shared in sorted((results / "smoothness").glob("*/input.json")):
        if smoothness_input(root, shared.parent.name):
            changed.append(layout.input_alpha(shared.parent.name))
    for alphas in sorted((results / "smoothness").glob("*/*/alphas.json")):
        preset, target = alphas.parent.parent.name, alphas.parent.name
        if smoothness(root, preset, target):
            changed += [layout.alphas_json(preset, target), layout.alphas_csv(preset, target)]
    for result in sorted((results / "last_layer").glob("*/*.json")):
        if last_layer(root, result.parent.name, result.stem):
            changed.append(last_layer_file(result.parent.name, result.stem))
    for result in sorted((results / "mislabel").glob("*/*/*.json")):
        mislabel(root, result)  # no result file changes
    return changed


if __name__ == "__main__":
    done = migrate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
    print(f"{len(done)} result files migrated; their seconds are in {layout.TIMINGS}/")
