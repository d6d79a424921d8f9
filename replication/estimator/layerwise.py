"""Alpha of every layer of a network, one layer at a time, resumable layer by layer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from replication.core.errors import UserError
from replication.core.files import dumps_json, read_json, write_json
from replication.estimator import cluster, wavelets
from replication.estimator.settings import Estimator
from replication.networks import features
from replication.networks.nets import Network


def layer_alphas(model: Network, images: torch.Tensor, labels: np.ndarray, est: Estimator, n_jobs: int = 1,
                 done: dict | None = None, on_layer: Callable[[dict], None] | None = None,
                 progress: bool = True, name: str = "") -> list[dict]:
    """Alpha of every layer (input first); `done` holds layers already computed (resume, or the shared
    input layer)."""
    done = done or {}
    layers = features.layer_names(model)
    if cluster.on_cluster():
        return _on_cluster(model, images, labels, est, done, on_layer, progress, name)
    rows = []
    with tqdm(total=len(layers), initial=sum(layer in done for layer in layers), desc=f"{name} layers",
              unit="layer", disable=not progress) as bar:
        for index, layer in enumerate(layers):
            if layer in done:
                rows.append(done[layer])
                continue
            bar.set_postfix(layer=layer)
            row = layer_alpha(features.representation(model, images, layer), labels, est, index, layer, n_jobs,
                              progress, name)
            rows.append(row)
            bar.update()
            if on_layer is not None:
                on_layer(row)
    return rows


def _on_cluster(model: Network, images: torch.Tensor, labels: np.ndarray, est: Estimator, done: dict,
                on_layer: Callable[[dict], None] | None, progress: bool, name: str) -> list[dict]:
    """layer_alphas with the forests of many layers on the cluster at once (as many as the features fit
    $REPLICATION_CLUSTER_GB); representations are computed here, in layer order, and each finished layer is
    passed to `on_layer` as it lands, so an interrupted stage resumes from the layers done."""
    layers = features.layer_names(model)
    cluster.connect()
    rows = {layer: done[layer] for layer in layers if layer in done}
    todo = [(index, layer) for index, layer in enumerate(layers) if layer not in rows]

    def prepare(item: tuple[int, str]):
        index, layer = item
        rep = features.representation(model, images, layer)
        return 2 * rep.nbytes, lambda: layer_alpha(rep, labels, est, index, layer, 1, False, name)

    with tqdm(total=len(layers), initial=len(rows), desc=f"{name} layers", unit="layer",
              disable=not progress) as bar:
        for (_, layer), row in cluster.in_flight(todo, prepare, cluster.memory_budget()):
            rows[layer] = row
            if progress:
                bar.write(f"{name} {layer}: alpha {row['alpha']:.5f} (R^2 {row['r2']:.3f}, {row['dim']} features, "
                          f"{row['seconds']:.0f} s)")
            bar.update()
            if on_layer is not None:
                on_layer(row)
    return [rows[layer] for layer in layers]


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
                rows = state.get("rows")
                need = {"layer", "alpha", "r2", "curve"}
                if not isinstance(rows, list) or not all(isinstance(r, dict) and need <= set(r) for r in rows):
                    raise UserError(f"{path}: not a resume file of this version (rows without {sorted(need)}); "
                                    "delete it and rerun (it only holds finished layers of an interrupted run)")
                self.done = {row["layer"]: row for row in rows}
                print(f"{label}: resuming, {len(self.done)} layers already done ({path})")

    def save(self, row: dict) -> None:
        """Record one finished layer."""
        self.done[row["layer"]] = row
        write_json(self.path, {"key": self.key, "rows": list(self.done.values())})

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
