"""Torch runtime set-up shared by the stages: device, threads, determinism, normalised data."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from replication import data as cifar
from replication.config import BaseConfig, DataConfig


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
        raise RuntimeError("params.yaml base.device is 'cuda' but no CUDA device is visible; use 'auto'")
    return torch.device(base.device)


def normalise(images: np.ndarray, cfg: DataConfig) -> torch.Tensor:
    """uint8 N x 3 x 32 x 32 -> float32 (x / 255 - mean) / std, as the original transform."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).float().div_(255.0)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


@dataclass(frozen=True)
class Dataset:
    """Normalised training and test tensors, and the seeded train/validation split."""

    x_train_all: torch.Tensor  # all training rows (canonical order), normalised
    y_train_all: torch.Tensor
    train_idx: torch.Tensor  # rows used for gradient steps
    val_idx: torch.Tensor  # rows used for early stopping
    x_test: torch.Tensor
    y_test: torch.Tensor


def split_indices(n: int, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded permutation of the n training rows: first val_size validate, the rest train."""
    if not 0 < cfg.val_size < n:
        raise ValueError(f"params.yaml data.val_size is {cfg.val_size}; it must be between 1 and {n - 1}")
    perm = np.random.default_rng(cfg.split_seed).permutation(n)
    return perm[cfg.val_size:], perm[: cfg.val_size]


def load_dataset(cfg: DataConfig, device: torch.device | str = "cpu") -> Dataset:
    """Load the canonical arrays, normalise them and move them to `device` once."""
    x_train, y_train = cifar.load_split(cfg.root, "train")
    x_test, y_test = cifar.load_split(cfg.root, "test")
    if cfg.limit_train:
        x_train, y_train = x_train[: cfg.limit_train], y_train[: cfg.limit_train]
    if cfg.limit_test:
        x_test, y_test = x_test[: cfg.limit_test], y_test[: cfg.limit_test]
    train_idx, val_idx = split_indices(len(y_train), cfg)
    return Dataset(
        normalise(x_train, cfg).to(device),
        torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(device),
        torch.from_numpy(train_idx).to(device),
        torch.from_numpy(val_idx).to(device),
        normalise(x_test, cfg).to(device),
        torch.from_numpy(np.asarray(y_test, dtype=np.int64)).to(device),
    )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator that depends only on (seed, epoch), so a resumed run draws the same batches."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))
