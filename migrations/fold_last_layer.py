"""One-off migration (December 2026): stage last_layer@TARGET folds into smoothness@PRESET-TARGET.

The original's estimator became a preset like the others (params.yaml smoothness.presets.as_run, with the
targets whose every layer it analyses); its stage on any other target gives the last layer alone, which is what
last_layer@TARGET computed (the same representation, forest and seed). This moves each
results/last_layer/PRESET/TARGET.json of a target the preset does not list in full into
results/smoothness/PRESET/TARGET/ (alphas.json and alphas.csv, written as the stage writes them: the row without
its curve in `layers`, the curve as `last_layer_curve`) and its wall time into timings/smoothness/PRESET/TARGET.json.
The file of a target the preset lists is dropped: its full table holds the same last layer (checked: the same
alpha and R^2, or the migration stops and names it). No number changes; running it twice changes nothing.

    python migrations/fold_last_layer.py [ROOT]     # then `dvc commit` the renamed stages
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from replication.core import registry as layout
from replication.core.files import read_json, write_csv, write_json
from replication.estimator import settings


def fold(root: Path, preset: str, target: str, every: bool) -> str:
    """One last_layer result: moved (a target listed in part) or dropped (listed in full); what was done."""
    old = root / layout.under(layout.RESULTS, "last_layer", preset, f"{target}.json")
    old_timing = root / layout.under(layout.TIMINGS, "last_layer", preset, f"{target}.json")
    result = read_json(old)
    row = result.pop("row")
    if every:
        full = read_json(root / layout.alphas_json(preset, target))["layers"][-1]
        if (full["layer"], full["alpha"], full["r2"]) != (row["layer"], row["alpha"], row["r2"]):
            raise SystemExit(f"{old}: {row['layer']} alpha {row['alpha']} differs from the full table's "
                             f"{full['alpha']}; rerun smoothness@{preset}-{target} on this machine first")
        action = "dropped (the full table holds it)"
    else:
        write_json(root / layout.alphas_json(preset, target), {
            **result, "layers": [{k: v for k, v in row.items() if k != "curve"}], "last_layer_curve": row["curve"]})
        write_csv(root / layout.alphas_csv(preset, target), [row], layout.ALPHA_COLUMNS)
        timing = read_json(old_timing) if old_timing.exists() else {}
        machine = {"machine": timing["machine"]} if "machine" in timing else {}
        write_json(root / layout.smoothness_timing(preset, target),
                   {**machine, "layers": {row["layer"]: timing.get("seconds")}})
        action = "moved"
    old.unlink()
    old_timing.unlink(missing_ok=True)
    return action


def migrate(root: Path) -> list[str]:
    params = settings.load(root / "params.yaml")
    done = []
    for old in sorted((root / layout.RESULTS / "last_layer").glob("*/*.json")):
        preset, target = old.parent.name, old.stem
        every = target in params.smoothness.every_layer(preset)
        done.append(f"{preset}/{target}: {fold(root, preset, target, every)}")
    for folder in (root / layout.RESULTS / "last_layer", root / layout.TIMINGS / "last_layer"):
        if folder.exists() and not any(p.is_file() for p in folder.rglob("*")):
            shutil.rmtree(folder)
    return done


if __name__ == "__main__":
    lines = migrate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
    print("\n".join(lines) + f"\n{len(lines)} last_layer results folded into smoothness stages")
