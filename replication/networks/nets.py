"""Networks as data: one generic builder turns a params.yaml layer list into a torch module.

A layer spec is one line, `KIND NAME:WIDTH ...` (see params.yaml). Every conv layer passes on the
*pre-activation* tensor; the next layer applies the activation first. This is how the original
ResNets were coded: the shortcut carries the pre-activation running sum s, a block computes
s' = conv_b(act(conv_a(act(s)))) + pad(s), and the representation after a block is act(s').
Plain nets use the same convention (act after every conv), so ResNet12 and Plain12 differ only by
the block kind.

Probe points are the representations the smoothness study uses, named as originally:
`conv2_relu` (after a conv), `conv3+identity_relu` (after a residual sum), `avpool`, `fc1`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from replication.core.errors import UserError
from replication.networks.settings import Activation, NetworkConfig

IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
Record = Callable[[str, torch.Tensor], None] | None


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torch function of an activation named in config.Activation (torch.relu, torch.tanh)."""
    return getattr(torch, name)


class SpecError(UserError, ValueError):
    """A network spec that cannot be built; names the network and the layer."""


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    convs: tuple[tuple[str, int], ...]  # (name, width) pairs, in order
    text: str


MAX_WIDTH = 4096  # channels of one layer (the original's widest has 16)


def parse_layer(text: str, where: str) -> LayerSpec:
    """Parse `KIND NAME:WIDTH ...` into a LayerSpec."""
    kind, *tokens = text.split()
    convs = []
    for token in tokens:
        name, sep, width = token.partition(":")
        if not sep or not name or not (width.isascii() and width.isdigit()) or not 1 <= int(width) <= MAX_WIDTH:
            raise SpecError(f"{where}: {token[:60]!r} is not NAME:WIDTH with a whole-number width from 1 to "
                            f"{MAX_WIDTH}")
        convs.append((name, int(width)))
    return LayerSpec(kind, tuple(convs), text)


class Stem(nn.Module):
    """conv1: 4x4, stride 2, padding 1, no bias; passes the pre-activation tensor on."""

    def __init__(self, spec: LayerSpec, shape: tuple[int, ...], act: str, where: str):
        super().__init__()
        if len(spec.convs) != 1:
            raise SpecError(f"{where}: a stem has exactly one NAME:WIDTH")
        if shape != IMAGE_SHAPE:
            raise SpecError(f"{where}: a stem must be the first layer (input {IMAGE_SHAPE})")
        (self.name, width), = spec.convs
        self.conv = nn.Conv2d(shape[0], width, 4, stride=2, padding=1, bias=False)
        self.act = _activation(act)
        self.probe_name = f"{self.name}_{act}"
        self.out_shape = (width, shape[1] // 2, shape[2] // 2)
        self.probes = [(self.probe_name, self.out_shape)]

    def forward(self, x: torch.Tensor, record: Record = None) -> torch.Tensor:
        s = self.conv(x)
        if record is not None:
            record(self.probe_name, self.act(s))
        return s


class Plain(nn.Module):
    """3x3 convs (padding 1, no bias), each fed the activation of the previous output."""

    def __init__(self, spec: LayerSpec, shape: tuple[int, ...], act: str, where: str):
        super().__init__()
        if not spec.convs:
            raise SpecError(f"{where}: a plain layer needs at least one NAME:WIDTH")
        self.act = _activation(act)
        self.convs = nn.ModuleList()
        self.probe_names = []
        channels = shape[0]
        for name, width in spec.convs:
            self.convs.append(nn.Conv2d(channels, width, 3, padding=1, bias=False))
            self.probe_names.append(f"{name}_{act}")
            channels = width
        self.out_shape = (channels, *shape[1:])
        self.probes = [
            (p, (w, *shape[1:])) for p, (_, w) in zip(self.probe_names, spec.convs, strict=False)
        ]

    def forward(self, s: torch.Tensor, record: Record = None) -> torch.Tensor:
        a = self.act(s)
        for conv, probe in zip(self.convs, self.probe_names, strict=True):
            s = conv(a)
            a = self.act(s)  # computed once: the probe and the next conv's input
            if record is not None:
                record(probe, a)
        return s


class Residual(Plain):
    """Plain convs whose last output is added to the incoming pre-activation tensor.

    Channel growth appends zero channels to the shortcut (He et al. option A), as originally coded.
    """

    def __init__(self, spec: LayerSpec, shape: tuple[int, ...], act: str, where: str):
        super().__init__(spec, shape, act, where)
        self.extra = self.out_shape[0] - shape[0]
        if self.extra < 0:
            raise SpecError(
                f"{where}: channel mismatch, the block ends with {self.out_shape[0]} channels but "
                f"its shortcut carries {shape[0]}; residual blocks may only keep or grow channels"
            )
        last = spec.convs[-1][0]
        self.probe_names[-1] = f"{last}+identity_{act}"
        self.probes[-1] = (self.probe_names[-1], self.out_shape)

    def forward(self, s: torch.Tensor, record: Record = None) -> torch.Tensor:
        a = self.act(s)
        for conv, probe in zip(self.convs[:-1], self.probe_names, strict=False):
            a = self.act(conv(a))
            if record is not None:
                record(probe, a)
        shortcut = F.pad(s, (0, 0, 0, 0, 0, self.extra)) if self.extra else s
        s = self.convs[-1](a) + shortcut
        if record is not None:
            record(self.probe_names[-1], self.act(s))
        return s


class AvgPool(nn.Module):
    """2x2 average pool of the activated feature map (probe `avpool`)."""

    def __init__(self, spec: LayerSpec, shape: tuple[int, ...], act: str, where: str):
        super().__init__()
        if spec.convs:
            raise SpecError(f"{where}: avgpool takes no NAME:WIDTH")
        self.act = _activation(act)
        self.out_shape = (shape[0], shape[1] // 2, shape[2] // 2)
        self.probes = [("avpool", self.out_shape)]

    def forward(self, s: torch.Tensor, record: Record = None) -> torch.Tensor:
        out = F.avg_pool2d(self.act(s), 2)
        if record is not None:
            record("avpool", out)
        return out


class Linear(nn.Module):
    """Flatten (C, H, W order) and a linear layer with bias; outputs logits."""

    def __init__(self, spec: LayerSpec, shape: tuple[int, ...], act: str, where: str,
                 activate_input: bool = True):
        super().__init__()
        if len(spec.convs) != 1:
            raise SpecError(f"{where}: linear takes exactly one NAME:OUTPUTS")
        (self.name, width), = spec.convs
        if width != NUM_CLASSES:
            raise SpecError(f"{where}: linear has {width} outputs; CIFAR-10 has {NUM_CLASSES} classes")
        self.act = _activation(act) if activate_input else None
        features = shape[0] * shape[1] * shape[2]
        self.fc = nn.Linear(features, width)
        self.out_shape = (width,)
        self.probes = [(self.name, self.out_shape)]

    def forward(self, s: torch.Tensor, record: Record = None) -> torch.Tensor:
        if self.act is not None:
            s = self.act(s)
        out = self.fc(s.flatten(1))
        if record is not None:
            record(self.name, out)
        return out


LAYER_KINDS: dict[str, type[nn.Module]] = {
    "stem": Stem,
    "plain": Plain,
    "residual": Residual,
    "avgpool": AvgPool,
    "linear": Linear,
}
CONV_KINDS = ("stem", "plain", "residual")


class Network(nn.Module):
    """A sequence of registry layers with named probe points."""

    def __init__(self, name: str, config: NetworkConfig):
        super().__init__()
        self.name = name
        self.activation = config.activation
        self.layers = nn.ModuleList()
        self.specs: list[LayerSpec] = []
        shape: tuple[int, ...] = IMAGE_SHAPE
        pre_activation = True
        if config.activation not in get_args(Activation):
            raise SpecError(f"network {name}: unknown activation {config.activation!r}")
        for i, text in enumerate(config.layers):
            where = f"network {name}, layer {i + 1} ({text!r})"
            if self.layers and isinstance(self.layers[-1], Linear):
                raise SpecError(f"{where}: nothing may follow the linear layer")
            spec = parse_layer(text, where)
            if spec.kind not in LAYER_KINDS:
                raise SpecError(f"{where}: unknown layer kind {spec.kind!r}; known: {', '.join(LAYER_KINDS)}")
            if spec.kind in CONV_KINDS and not pre_activation:
                raise SpecError(f"{where}: conv layers after avgpool are not supported")
            if spec.kind == "linear":
                layer = Linear(spec, shape, config.activation, where, activate_input=pre_activation)
            else:
                layer = LAYER_KINDS[spec.kind](spec, shape, config.activation, where)
            if spec.kind == "avgpool":
                pre_activation = False
            self.layers.append(layer)
            self.specs.append(spec)
            shape = layer.out_shape
        if not self.layers or not isinstance(self.layers[-1], Linear):
            raise SpecError(f"network {name}: the last layer must be `linear NAME:{NUM_CLASSES}`")
        names = [p for layer in self.layers for p, _ in layer.probes]
        if len(set(names)) != len(names):
            raise SpecError(f"network {name}: probe names repeat ({names}); give each conv its own name")

    @property
    def probes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(probe name, shape per sample) in forward order."""
        return [p for layer in self.layers for p in layer.probes]

    def forward(self, x: torch.Tensor, record: Record = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, record)
        return x

    def probe(self, x: torch.Tensor, names: list[str] | tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The named probe outputs for a batch, flattened per sample (C, H, W order)."""
        known = {p for p, _ in self.probes}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SpecError(f"network {self.name} has no probe {unknown[0]!r}; probes: {sorted(known)}")
        wanted = set(names)
        out: dict[str, torch.Tensor] = {}

        def record(name: str, tensor: torch.Tensor) -> None:
            if name in wanted:
                out[name] = tensor.flatten(1)

        self.forward(x, record)
        return out


def build(name: str, config: NetworkConfig, seed: int | None = None) -> Network:
    """Build network `name`; with a seed, its PyTorch-default initialisation is reproducible."""
    if seed is not None:
        torch.manual_seed(seed)
    return Network(name, config)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe(name: str, config: NetworkConfig) -> dict:
    """Layers, output shapes, probes and parameter counts of one network."""
    net = build(name, config, seed=0)
    layers = []
    for spec, layer in zip(net.specs, net.layers, strict=False):
        layers.append({
            "spec": spec.text,
            "kind": spec.kind,
            "out_shape": list(layer.out_shape),
            "params": count_params(layer),
            "probes": [{"name": p, "dim": int(torch.Size(s).numel())} for p, s in layer.probes],
        })
    return {
        "activation": config.activation,
        "lr": config.lr,
        "params": count_params(net),
        "layers": layers,
        "probes": [p for p, _ in net.probes],
    }
