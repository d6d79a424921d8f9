"""Torch runtime set-up shared by the stages: device, threads, determinism, memory layout, batch order."""

from __future__ import annotations

import os

import numpy as np
import torch

from replication.config import BaseConfig
from replication.errors import UserError


def setup(base: BaseConfig) -> torch.device:
    """Apply thread and determinism settings and pick the device ("auto" = CUDA when present)."""
    if base.threads > 0:
        torch.set_num_threads(base.threads)
    if base.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if base.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base.device == "cuda" and not torch.cuda.is_available():
        raise UserError("params.yaml base.device is 'cuda' but no CUDA device is visible; use 'auto'")
    return torch.device(base.device)


def memory_layout(base: BaseConfig) -> torch.memory_format:
    """NHWC (channels_last) or the default NCHW layout for conv inputs and weights."""
    return torch.channels_last if base.channels_last else torch.contiguous_format


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator that depends only on (seed, epoch), so a resumed run draws the same batches."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))
