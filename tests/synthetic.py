"""Tiny synthetic CIFAR-10 look-alikes, written in each format `replication.tools.data` reads."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from replication.tools.sources import BATCH_FILES, CLASSES, Split


def make_splits(n_train: int = 60, n_test: int = 20, seed: int = 0, separable: bool = False) -> dict[str, Split]:
    """Random images and labels with unique, shuffled file names (every class present)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n, dtype=np.int64) % len(CLASSES)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        if separable:  # a class-dependent colour makes the task learnable
            images[:, 0] = (labels[:, None, None] * 25 + rng.integers(0, 20, (n, 32, 32))).astype(np.uint8)
        filenames = [f"{CLASSES[label]}_s_{name}_{i:06d}.png" for i, label in enumerate(labels)]
        order = rng.permutation(n)
        splits[name] = Split(images[order], labels[order], tuple(filenames[i] for i in order))
    return splits


def write_batches_folder(splits: dict[str, Split], folder: Path) -> Path:
    """The official python layout, with bytes keys as in the real pickles."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": 10000, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    for split, files in BATCH_FILES.items():
        s = splits[split]
        chunks = np.array_split(np.arange(len(s.labels)), len(files))
        for name, idx in zip(files, chunks, strict=False):
            batch = {
                b"batch_label": name.encode(),
                b"labels": [int(v) for v in s.labels[idx]],
                b"data": s.images[idx].reshape(len(idx), -1),
                b"filenames": [s.filenames[i].encode() for i in idx],
            }
            (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def write_archive(splits: dict[str, Split], path: Path) -> Path:
    """A cifar-10-python.tar.gz look-alike."""
    folder = write_batches_folder(splits, path.parent / "staging" / "cifar-10-batches-py")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return path


def write_png_tree(splits: dict[str, Split], folder: Path) -> Path:
    """train/<class>/*.png and test/<class>/*.png."""
    for split, s in splits.items():
        for cls in CLASSES:
            (folder / split / cls).mkdir(parents=True, exist_ok=True)
        for image, label, name in zip(s.images, s.labels, s.filenames, strict=False):
            Image.fromarray(image.transpose(1, 2, 0)).save(folder / split / CLASSES[label] / name)
    return folder
