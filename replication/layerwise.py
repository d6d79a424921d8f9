"""Alpha of every layer of a network, one layer at a time, resumable layer by layer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from replication import features, wavelets
from replication.estimator import Estimator
from replication.files import dumps_json, read_json, write_json
from replication.nets import Network


def layer_alphas(model: Network, images: torch.Tensor, labels: np.ndarray, est: Estimator, n_jobs: int = 1,
                 done: dict | None = None, on_layer: Callable[[dict], None] | None = None,
                 progress: bool = True, name: str = "") -> list[dict]:
    """Alpha of every layer (input first); `done` holds layers already computed (resume, or the shared
    input layer)."""
    rows = []
    done = done or {}
    layers = features.layer_names(model)
    bar = tqdm(layers, desc=f"{name} layers", unit="layer", disable=not progress)
    for index, layer in enumerate(bar):
        bar.set_postfix(layer=layer)
        if layer in done:
            rows.append(done[layer])
            continue
        row = layer_alpha(features.representation(model, images, layer), labels, est, index, layer, n_jobs,
                          progress, name)
        rows.append(row)
        if on_layer is not None:
            on_layer(row)
    return rows


def layer_alpha(rep: np.ndarray, labels: np.ndarray, est: Estimator, index: int, layer: str, n_jobs: int = 1,
                progress: bool = True, name: str = "") -> dict:
    """One layer's result row: alpha, its fit and the error curve it was fitted to."""
    result = wavelets.besov_alpha(rep, labels, est, n_jobs=n_jobs, progress=progress,
                                  desc=f"{layer} ({rep.shape[1]} features)", n_classes=10)
    if progress:
        tqdm.write(f"{name} {layer}: alpha {result.alpha:.5f} (R^2 {result.r2:.3f}, "
                   f"{result.n_features} features, {result.seconds:.0f} s)")
    return {"index": index, "layer": layer, "dim": result.n_features, **result.summary(),
            "curve": {"m": result.m, "x": result.x, "error": result.error, "mse": result.mse}}


def resume_key(*parts: object) -> str:
    """A short hash of everything that decides the layers' alphas (guards the resume file)."""
    return hashlib.sha256(dumps_json(list(parts)).encode()).hexdigest()[:16]


class LayerCheckpoint:
    """Finished layers kept in a JSON file, valid only for the same key."""

    def __init__(self, path: Path, key: str, label: str):
        self.path, self.key = path, key
        self.done: dict[str, dict] = {}
        if path.exists():
            state = read_json(path)
            if isinstance(state, dict) and state.get("key") == key:
                self.done = {row["layer"]: row for row in state["rows"]}
                print(f"{label}: resuming, {len(self.done)} layers already done ({path})")

    def save(self, row: dict) -> None:
        """Record one finished layer."""
        self.done[row["layer"]] = row
        write_json(self.path, {"key": self.key, "rows": list(self.done.values())})

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
