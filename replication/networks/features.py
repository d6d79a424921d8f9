"""Layer representations: each probe point's output for every training image, one layer at a time.

As originally: all 50,000 training images (the training and validation parts together) in dataset
order (here the canonical, name-sorted order), flattened per sample in (C, H, W) order, float32.
`input` is the normalised image itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from replication.networks.nets import Network


def layer_names(model: Network) -> list[str]:
    """`input` followed by the network's probe points, in forward order."""
    return ["input", *(p for p, _ in model.probes)]


def input_layer(images: torch.Tensor) -> np.ndarray:
    """The input layer's representation: the normalised images, flattened, as an N x d float32 array."""
    return images.flatten(1).cpu().numpy().astype(np.float32, copy=True)


@torch.no_grad()
def representation(model: Network, images: torch.Tensor, layer: str, batch: int = 1000) -> np.ndarray:
    """One layer's representation of `images` as an N x d float32 array."""
    if layer == "input":
        return input_layer(images)
    model.eval()
    device = next(model.parameters()).device
    out: np.ndarray | None = None
    for start in range(0, len(images), batch):
        part = model.probe(images[start: start + batch].to(device), [layer])[layer]
        if out is None:
            out = np.empty((len(images), part.shape[1]), dtype=np.float32)
        out[start: start + len(part)] = part.cpu().numpy()
    assert out is not None
    return out


def representations(model: Network, images: torch.Tensor, layers: list[str] | None = None,
                    batch: int = 1000) -> Iterator[tuple[str, np.ndarray]]:
    """(layer, representation) pairs, computed lazily so only one layer is in memory at a time."""
    for layer in layers or layer_names(model):
        yield layer, representation(model, images, layer, batch)
