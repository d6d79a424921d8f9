"""A trained network rebuilt from params and its saved weights: what the forest stages need of training,
without the training loop (so an edit to training.py reruns trainings, not forests)."""

from __future__ import annotations

import torch

from replication.core import registry as layout
from replication.networks import nets, weights
from replication.networks import settings as cfg


def trained_network(params: cfg.Params, run: str, which: str, device: torch.device | str = "cpu") -> nets.Network:
    """Rebuild run's network and load its saved weights ('final' or 'snapshot')."""
    run_cfg = params.run_config(run)
    model = nets.build(run_cfg.network, params.network_config(run_cfg.network))
    path = layout.weights(run, which)
    weights.load_into(model, weights.load_state(path, f"run `dvc repro {layout.TRAIN.stage(run)}`"), path,
                        f"rerun `dvc repro -f {layout.TRAIN.stage(run)}`")
    return model.to(device).eval()
