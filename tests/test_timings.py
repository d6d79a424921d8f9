"""Wall times apart from results: the stages write them to timings/, and the one-off migration moves those of
older result files there, rewriting each file exactly as the stages now write it."""

from __future__ import annotations

import importlib.util
import json

from conftest import ROOT

from replication.core import registry as layout
from replication.core.files import write_csv, write_json


def _migration():
    spec = importlib.util.spec_from_file_location("split_timings", ROOT / "migrations" / "split_timings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROWS = [{"index": 0, "layer": "input", "dim": 3072, "alpha": 0.015, "r2": 0.9, "n_wavelets": 10, "seconds": 28.0},
        {"index": 1, "layer": "conv1_relu", "dim": 1024, "alpha": 0.0206, "r2": 0.7, "n_wavelets": 12, "seconds": 15.2},
        {"index": 2, "layer": "fc1", "dim": 10, "alpha": 0.0744, "r2": 0.98, "n_wavelets": 9, "seconds": 3.1}]


def _old_project(root):
    """Result files as the stages wrote them before: seconds inside."""
    old_history = ["epoch", "train_loss", "val_loss", "val_accuracy", "seconds"]
    write_json(root / layout.train_metrics("net"), {"test_accuracy": 0.6, "seconds": 731.0, "epochs_run": 2})
    write_csv(root / layout.history("net"), [{"epoch": 1, "train_loss": 2.0, "val_loss": 1.9, "val_accuracy": 0.3,
                                              "seconds": 5.5},
                                             {"epoch": 2, "train_loss": 1.5, "val_loss": 1.6, "val_accuracy": 0.4,
                                              "seconds": 5.25}], old_history)
    write_json(root / layout.input_alpha("as_reported"), {"preset": "as_reported", "row": ROWS[0]})
    write_json(root / layout.alphas_json("as_reported", "net"), {"target": "net", "layers": ROWS})
    write_csv(root / layout.alphas_csv("as_reported", "net"), ROWS, [*layout.ALPHA_COLUMNS, "seconds"])
    write_json(root / _migration().last_layer_file("as_run", "net"), {"target": "net", "row": ROWS[-1]})
    write_json(root / layout.mislabel("net", "as_run", 0.5), {"alpha_mean": 0.02})


def test_the_migration_moves_every_wall_time_and_rewrites_files_as_the_stages_do(tmp_path):
    _old_project(tmp_path)
    mislabel_bytes = (tmp_path / layout.mislabel("net", "as_run", 0.5)).read_bytes()
    changed = _migration().migrate(tmp_path)
    assert len(changed) == 6  # metrics + history, input, alphas json + csv, last layer; mislabel untouched
    results = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    assert not any("seconds" in p.read_text() for p in results)
    assert (tmp_path / layout.mislabel("net", "as_run", 0.5)).read_bytes() == mislabel_bytes

    def timing(path):
        return json.loads((tmp_path / path).read_text())

    assert timing(layout.train_timing("net")) == {"seconds": 731.0, "epochs": [5.5, 5.25]}
    assert timing(layout.input_timing("as_reported")) == {"seconds": 28.0}
    assert timing(layout.smoothness_timing("as_reported", "net")) == {"layers": {"conv1_relu": 15.2, "fc1": 3.1}}
    assert timing(_migration().last_layer_timing_file("as_run", "net")) == {"seconds": 3.1}
    assert timing(layout.mislabel_timing("net", "as_run", 0.5))["seconds"] is None  # not recorded, and says so

    # byte for byte what the stages write now
    fresh = tmp_path / "fresh"
    write_csv(fresh / "alphas.csv", ROWS, layout.ALPHA_COLUMNS)
    assert (tmp_path / layout.alphas_csv("as_reported", "net")).read_bytes() == (fresh / "alphas.csv").read_bytes()
    write_json(fresh / "alphas.json", {"target": "net", "layers": [layout.without_seconds(r) for r in ROWS]})
    assert (tmp_path / layout.alphas_json("as_reported", "net")).read_bytes() == (fresh / "alphas.json").read_bytes()
    assert (tmp_path / layout.history("net")).read_text().splitlines()[0] == ",".join(layout.HISTORY_COLUMNS)

    # a second run changes nothing
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert _migration().migrate(tmp_path) == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_timing_file_names_the_machine(tmp_path):
    from replication.core import runtime

    runtime.write_timing(tmp_path / "t.json", seconds=1.5)
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["seconds"] == 1.5 and {"cpu", "cpu_id", "simd", "cores", "threads", "gpu"} <= set(written["machine"])
