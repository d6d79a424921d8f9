"""Network weights on disk: written so the same tensors give the same bytes, read without running code, and
checked against the network they are loaded into."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from replication.core.errors import MissingResult, UserError
from replication.core.files import open_regular, write_bytes


def save(path: Path, state: dict[str, torch.Tensor]) -> None:
    """torch.save through memory, then an atomic write: the archive's inner folder name is fixed
    ("archive"), so the same tensors always give the same bytes (a temp file name would leak in)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_state(path: Path, what: str) -> dict:
    """A torch file of tensors and plain containers (weights_only), naming the file when it is bad."""
    if not path.exists():
        raise MissingResult(f"{path}: missing; {what}")
    try:
        with open_regular(path, what) as f:  # a FIFO or device is refused by name, not waited on
            return torch.load(f, map_location="cpu", weights_only=True)
    except UserError:
        raise
    except Exception as err:  # truncated zip, pickle error, empty file: torch raises many types
        reason = (str(err).splitlines() or [""])[0][:200]
        raise UserError(f"{path}: unreadable ({type(err).__name__}: {reason}); "
                        f"delete it and rerun; {what}") from err


def load_into(model: torch.nn.Module, state: Any, path: Path, what: str) -> None:
    """Load `state` (read from `path`) into `model`, or a UserError naming the file when its keys, shapes or
    types do not fit the network (a file from another network, or edited)."""
    expected = model.state_dict()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: does not hold a network's weights (a mapping of names to tensors); {what}")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and (state[k].shape != expected[k].shape
                                                   or state[k].dtype != expected[k].dtype)]
    if missing or extra or wrong:
        first = (f"missing {missing[0]!r}" if missing else f"unexpected {str(extra[0])[:40]!r}" if extra else
                 f"{wrong[0]!r} is {tuple(state[wrong[0]].shape)} {state[wrong[0]].dtype}, the network needs "
                 f"{tuple(expected[wrong[0]].shape)} {expected[wrong[0]].dtype}")
        raise UserError(f"{path}: weights do not fit the network ({first}); {what}")
    model.load_state_dict(state)
