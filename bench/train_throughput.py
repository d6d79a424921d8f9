"""Training throughput of ResNet12: the project's loop against the original's data pipeline.

Baseline (as originally done): a torchvision-style dataset that turns each uint8 image into a PIL
image, applies ToTensor + Normalize per sample, read by a DataLoader with a random subset sampler,
batch 250. Project: the same images normalised once into one in-memory tensor, batches gathered by
index (replication.networks.training.train_epoch), channels-last layout. Both train the same network with the
same optimiser in the same process; the ratio is what counts (targets: >= 2x, >= 4,000 images/s).

With --variants it also times what the 4,000 images/s target would need, in the same process:
the project loop in NCHW layout, the project loop under torch.compile (compile time excluded), and
a ceiling: forward + backward of one fixed batch, with no data gathering and no optimiser step,
which no training loop of this network on this machine can beat.

    python bench/train_throughput.py [--images 10000] [--repeats 2] [--variants]
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

from replication.core import runtime
from replication.networks import dataset, nets, training
from replication.networks import settings as cfg


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
    model = nets.build("resnet12", params.network_config("resnet12"), seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    started = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - started)


def project(params: cfg.Params, images: np.ndarray, labels: np.ndarray, n: int,
            channels_last: bool | None = None, compiled: bool = False) -> float:
    """One training epoch of the project's loop over n images; images/s (compile time excluded)."""
    x = dataset.normalise(images[:n], params.data)
    y = torch.from_numpy(np.asarray(labels[:n], dtype=np.int64))
    model = nets.build("resnet12", params.network_config("resnet12"), seed=0)
    if channels_last is None:
        channels_last = params.base.channels_last
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if compiled:
        model = torch.compile(model)
        warm = torch.arange(2 * params.train.batch_size)
        training.train_epoch(model, opt, x, y, warm, params.train.batch_size, layout)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    training.train_epoch(model, opt, x, y, order, params.train.batch_size, layout)
    return n / (time.perf_counter() - started)


def ceiling(params: cfg.Params, images: np.ndarray, labels: np.ndarray, n: int) -> float:
    """Forward + backward of one fixed batch, n images' worth: no gathering, no optimiser step."""
    b = params.train.batch_size
    layout = runtime.memory_layout(params.base)
    x = dataset.normalise(images[:b], params.data).contiguous(memory_format=layout)
    y = torch.from_numpy(np.asarray(labels[:b], dtype=np.int64))
    model = nets.build("resnet12", params.network_config("resnet12"), seed=0).to(memory_format=layout)
    model.train()
    steps = max(1, n // b)
    started = time.perf_counter()
    for _ in range(steps):
        F.cross_entropy(model(x), y).backward()
    return steps * b / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", action="store_true",
                        help="also time NCHW, torch.compile and the fixed-batch ceiling")
    args = parser.parse_args()
    params = cfg.load()
    runtime.setup(params.base)
    images, labels = dataset.load_split(params.data.root, "train")
    images = np.asarray(images[: args.images])
    project(params, images, labels, min(1000, args.images))  # warm-up
    for r in range(args.repeats):
        base = naive(params, images, labels, args.images)
        ours = project(params, images, labels, args.images)
        print(f"repeat {r + 1}: naive DataLoader {base:7.0f} images/s   project loop {ours:7.0f} images/s"
              f"   ratio {ours / base:.2f}x   ({torch.get_num_threads()} threads)")
        if args.variants:
            other = project(params, images, labels, args.images, channels_last=not params.base.channels_last)
            comp = project(params, images, labels, args.images, compiled=True)
            top = ceiling(params, images, labels, args.images)
            print(f"          {'NCHW' if params.base.channels_last else 'channels-last'} {other:7.0f}   "
                  f"torch.compile {comp:7.0f}   fixed-batch ceiling {top:7.0f} images/s   "
                  f"(project / ceiling {ours / top:.2f})")


if __name__ == "__main__":
    main()
