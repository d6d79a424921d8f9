"""Torch runtime set-up shared by the stages: device, threads, determinism, memory layout, batch order."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from replication.core.errors import UserError
from replication.core.files import write_json
from replication.core.settings import BaseConfig


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


def machine() -> dict:
    """Where a stage ran: processor (name, family and model, widest vector extension: the same code can give other
    last bits, hence other forest splits, on another processor), cores, torch threads and GPU (its timing file only)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if not line.strip():
                    break  # the first processor's block
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None)
    return {"cpu": fields.get("model name") or platform.processor() or platform.machine(),
            "cpu_id": f"family {fields['cpu family']} model {fields['model']}" if "model" in fields else None,
            "simd": simd, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def write_timing(path: Path, **seconds: Any) -> None:
    """A stage's wall times and the machine they were measured on, apart from its results."""
    write_json(path, {**seconds, "machine": machine()})
