"""Training throughput of ResNet12: the project's loop against the original's data pipeline.

Baseline (as originally done): a torchvision-style dataset that turns each uint8 image into a PIL
image, applies ToTensor + Normalize per sample, read by a DataLoader with a random subset sampler,
batch 250. Project: the same images normalised once into one in-memory tensor, batches gathered by
index (replication.train.train_epoch), channels-last layout. Both train the same network with the
same optimiser in the same process; the ratio is what counts (targets: >= 2x, >= 4,000 images/s).

    python bench/train_throughput.py [--images 10000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler
from torchvision import transforms

from replication import config as cfg
from replication import data as cifar
from replication import nets, runtime, train


class PerSampleCIFAR(Dataset):
    """What torchvision's CIFAR10 does per item: array -> PIL image -> transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # N x 32 x 32 x 3
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def naive(params: cfg.Params, images: np.ndarray, labels: np.ndarray, n: int) -> float:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(params.data.mean, params.data.std)])
    loader = DataLoader(PerSampleCIFAR(images, labels, tf), batch_size=params.train.batch_size,
                        sampler=SubsetRandomSampler(range(n)))
    model = nets.build("resnet12", params.network("resnet12"), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    started = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - started)


def project(params: cfg.Params, images: np.ndarray, labels: np.ndarray, n: int) -> float:
    x = runtime.normalise(images[:n], params.data)
    y = torch.from_numpy(np.asarray(labels[:n], dtype=np.int64))
    model = nets.build("resnet12", params.network("resnet12"), seed=0)
    layout = torch.channels_last if params.base.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    train.train_epoch(model, opt, x, y, order, params.train.batch_size, layout)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    params = cfg.load()
    runtime.setup(params.base)
    images, labels = cifar.load_split(params.data.root, "train")
    images = np.asarray(images[: args.images])
    project(params, images, labels, 1000)  # warm-up
    for r in range(args.repeats):
        base = naive(params, images, labels, args.images)
        ours = project(params, images, labels, args.images)
        print(f"repeat {r + 1}: naive DataLoader {base:7.0f} images/s   project loop {ours:7.0f} images/s"
              f"   ratio {ours / base:.2f}x   ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
