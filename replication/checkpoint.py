"""A trained network rebuilt from params and its saved weights: what the forest stages need of training,
without the training loop (so an edit to training.py reruns trainings, not forests)."""

from __future__ import annotations

import torch

from replication import config as cfg
from replication import layout, nets


def trained_network(params: cfg.Params, run: str, which: str, device: torch.device | str = "cpu") -> nets.Network:
    """Rebuild run's network and load its saved weights ('final' or 'snapshot')."""
    run_cfg = params.run_config(run)
    model = nets.build(run_cfg.network, params.network_config(run_cfg.network))
    state = layout.load_state(layout.weights(run, which), f"run `dvc repro train@{run}`")
    model.load_state_dict(state)
    return model.to(device).eval()
