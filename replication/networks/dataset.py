"""CIFAR-10 for the stages: read the canonical arrays, normalise, split, relabel.

The canonical folder (`data/`, built by `python -m replication.tools.data fetch`, tracked by data.dvc)
holds, per split, `SPLIT_images.npy` (uint8, N x 3 x 32 x 32), `SPLIT_labels.npy` (int64) and
`SPLIT_filenames.txt`, rows sorted by original file name, and `classes.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from replication.core.errors import UserError
from replication.core.files import open_regular
from replication.core.settings import DataConfig

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
SPLITS = {"train": 50_000, "test": 10_000}
CANONICAL_FILES = ("images.npy", "labels.npy", "filenames.txt")
OFFLINE_HINT = (
    "`python -m replication.tools.data fetch --from PATH` builds it offline, where PATH is the official "
    "cifar-10-python.tar.gz, an extracted cifar-10-batches-py folder, or a folder of PNGs laid out as "
    "train/<class>/*.png and test/<class>/*.png."
)
FETCH_HINT = "Build it with `python -m replication.tools.data fetch` (downloads the official archive); " + OFFLINE_HINT


class DataError(UserError, ValueError):
    """Input that cannot become (or is not) the canonical dataset; the message says what to do."""


def require(root: Path | str) -> Path:
    """Return `root` if it holds the canonical dataset, else raise with the fetch command."""
    root = Path(root)
    missing = [f"{s}_{k}" for s in SPLITS for k in CANONICAL_FILES if not (root / f"{s}_{k}").exists()]
    if missing:
        raise DataError(f"{root}/ has no canonical CIFAR-10 (missing {missing[0]}). {FETCH_HINT}")
    return root


def load_split(root: Path | str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8, memory-mapped) and labels of one canonical split."""
    root = require(root)
    try:
        for kind in ("images", "labels"):  # a FIFO or device is refused by name, not waited on
            with open_regular(root / f"{split}_{kind}.npy", f"the {split} {kind} of data/"):
                pass
        images = np.load(root / f"{split}_images.npy", mmap_mode="r")
        labels = np.load(root / f"{split}_labels.npy")
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{root}/{split}_*.npy: unreadable ({err}). Rebuild data/: {FETCH_HINT}") from err
    check_arrays(images, labels, f"{root}/{split}")
    return images, labels


def check_arrays(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    """The canonical shapes and values, checked after the arrays load: uint8 images N x 3 x 32 x 32, N integer
    labels from 0 to 9; one line naming the array otherwise."""
    def bad(kind: str, what: str) -> DataError:
        return DataError(f"{where}_{kind}.npy: {what}, not canonical CIFAR-10. Rebuild data/: {FETCH_HINT}")

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise bad("images", f"a {images.dtype} array of shape {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(images):
        raise bad("labels", f"a {labels.dtype} array of shape {labels.shape} beside {len(images):,} images")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(CLASSES)):
        raise bad("labels", f"labels from {int(labels.min())} to {int(labels.max())} (10 classes: 0 to 9)")


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
        raise DataError(f"params.yaml data.val_size is {cfg.val_size}; it must be between 1 and {n - 1}")
    perm = np.random.default_rng(cfg.split_seed).permutation(n)
    return perm[cfg.val_size:], perm[: cfg.val_size]


def load_dataset(cfg: DataConfig, device: torch.device | str = "cpu") -> Dataset:
    """Load the canonical arrays, normalise them and move them to `device` once."""
    x_train, y_train = load_split(cfg.root, "train")
    x_test, y_test = load_split(cfg.root, "test")
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


def training_images(cfg: DataConfig, limit: int) -> tuple[torch.Tensor, np.ndarray]:
    """All (or the first `limit`) canonical training images, normalised, and their labels."""
    images, labels = load_split(cfg.root, "train")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return normalise(images, cfg), np.asarray(labels, dtype=np.int64)


def shuffle_labels(labels: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Labels with a seeded random `rate` fraction of rows permuted among themselves."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mislabel rate {rate} is outside [0, 1]")
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(labels))[: int(np.floor(rate * len(labels)))]
    out = labels.copy()
    out[rows] = labels[rng.permutation(rows)]
    return out


def with_noisy_labels(ds: Dataset, rate: float, seed: int) -> tuple[Dataset, np.ndarray]:
    """`ds` with a seeded `rate` fraction of its training labels shuffled, and those labels."""
    noisy = shuffle_labels(ds.y_train_all.cpu().numpy(), rate, seed)
    y = torch.from_numpy(noisy).to(ds.y_train_all.device)
    return dataclasses.replace(ds, y_train_all=y), noisy
