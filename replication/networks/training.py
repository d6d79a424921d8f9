"""Training and evaluation: the original protocol as a resumable loop over in-memory tensors.

Protocol: mean-subtracted images, seeded 40,000/10,000 split, batch 250, Adam with the network's
learning rate, cross-entropy on logits, early stopping (replication/networks/stopping.py), restore the best
checkpoint, keep the epoch-5 snapshot. Used by the train and retrain stages.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from tqdm import tqdm

from replication.core import registry as layout
from replication.core import runtime, schemas
from replication.core.errors import UserError
from replication.core.files import dumps_json, exclusive
from replication.networks import nets, stopping, weights
from replication.networks import settings as cfg
from replication.networks.dataset import Dataset


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    weights: dict[str, torch.Tensor]  # restored (best) weights
    snapshot: dict[str, torch.Tensor] | None  # weights after `snapshot_epoch` (None if it stopped earlier)
    history: list[dict] = field(default_factory=list)
    restored_epoch: int = 0
    epochs_run: int = 0
    seconds: float = 0.0


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def fingerprint(run: cfg.RunConfig, net: cfg.NetworkConfig, train: cfg.TrainConfig, data: cfg.DataConfig) -> str:
    """Hash of every setting that shapes the training trajectory (guards resume files)."""
    blob = dumps_json([x.model_dump() for x in (run, net, train, data)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and predicted classes over (x, y)."""
    model.eval()
    total, preds = 0.0, []
    for i in range(0, len(y), batch):
        logits = model(x[i: i + batch])
        total += F.cross_entropy(logits, y[i: i + batch], reduction="sum").item()
        preds.append(logits.argmax(1).cpu())
    return total / len(y), torch.cat(preds).numpy()


def test_metrics(model: torch.nn.Module, ds: Dataset, batch: int) -> dict:
    """Test accuracy, macro precision/recall and the confusion matrix (rows true, columns predicted)."""
    loss, pred = evaluate(model, ds.x_test, ds.y_test, batch)
    true = ds.y_test.cpu().numpy()
    precision, recall, _, _ = precision_recall_fscore_support(true, pred, average="macro", zero_division=0)
    return {
        "test_accuracy": float((pred == true).mean()),
        "test_loss": loss,
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "confusion_matrix": confusion_matrix(true, pred, labels=list(range(nets.NUM_CLASSES))).tolist(),
    }


def train_epoch(model: torch.nn.Module, optimiser: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                order: torch.Tensor, batch_size: int, memory_format: torch.memory_format = torch.contiguous_format,
                desc: str | None = None) -> float:
    """One pass over the rows in `order`, in batches; returns the mean of the per-batch losses."""
    model.train()
    losses = []
    bar = tqdm(order.split(batch_size), desc=desc, leave=False, disable=desc is None, unit="batch")
    for idx in bar:
        loss = F.cross_entropy(model(x[idx].contiguous(memory_format=memory_format)), y[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{torch.stack(losses).mean().item():.4f}")
    return torch.stack(losses).mean().item()


def lock_of(resume_path: Path) -> Path:
    """The lock a training holds while it runs: beside its resume file."""
    return resume_path.with_name(resume_path.name + ".lock")


def fit(
    name: str,
    params: cfg.Params,
    ds: Dataset,
    device: torch.device,
    resume_path: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train run `name` on `ds`; resumes from `resume_path` when it holds a matching checkpoint.

    While it trains, it holds a lock beside the resume file: a second run of the same stage stops
    with the first one's pid instead of resuming from the same state.
    """
    if resume_path is None:
        return _fit(name, params, ds, device, None, progress)
    with exclusive(lock_of(resume_path), f"training {name}"):
        return _fit(name, params, ds, device, resume_path, progress)


@dataclass
class _Progress:
    """What a training carries from epoch to epoch, and what its resume file holds beside the model."""

    rule: object
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    snapshot: dict | None = None
    best_epoch: int = 0
    start_epoch: int = 1
    elapsed: float = 0.0


def _resume(name: str, path: Path | None, key: str, model: nets.Network, optimiser: torch.optim.Optimizer,
            progress: _Progress, make_rule) -> _Progress:
    """The progress kept in `path` when it was made with the same params (loading model and optimiser too),
    else `progress` unchanged."""
    if path is None or not path.exists():
        return progress
    state = weights.load_state(path, "it only holds an interrupted training's progress")
    if not isinstance(state, dict) or state.get("fingerprint") != key or set(state) != RESUME_KEYS:
        print(f"{name}: {path} was made with other params or another version; starting afresh")
        return progress
    _check_progress(state, path)
    weights.load_into(model, state["model"], path, "delete it (it only holds an interrupted training's progress)")
    try:
        optimiser.load_state_dict(state["optimiser"])
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise UserError(f"{path}: the optimiser state does not fit ({type(err).__name__}); delete it and rerun "
                        "(it only holds an interrupted training's progress)") from None
    print(f"{name}: resuming after epoch {state['epoch']} from {path}")
    return _Progress(make_rule(state["rule"]), state["history"], state["best"], state["snapshot"],
                     state["best_epoch"], state["epoch"] + 1, state["elapsed"])


def _check_progress(state: dict, path: Path) -> None:
    """The counters and history of a resume file, checked after it loads (an epoch "three" or 10^6, a history
    "nope"), one line naming the file."""
    def bad(what: str) -> UserError:
        return UserError(f"{path}: {what}; delete it and rerun (it only holds an interrupted training's progress)")

    for key in ("epoch", "best_epoch"):
        value = state[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= schemas.MAX_EPOCHS:
            raise bad(f"{key} is {str(value)[:40]!r}, not an epoch from 0 to {schemas.MAX_EPOCHS:,}")
    history = state["history"]
    if not isinstance(history, list) or len(history) != state["epoch"] or not all(
            isinstance(row, dict) and set(layout.HISTORY_COLUMNS) <= set(row) for row in history):
        raise bad(f"its history is not one row of {', '.join(layout.HISTORY_COLUMNS)} per epoch run")
    if not isinstance(state["elapsed"], (int, float)) or not math.isfinite(state["elapsed"]):
        raise bad(f"elapsed is {str(state['elapsed'])[:40]!r}, not a number of seconds")


RESUME_KEYS = {"fingerprint", "epoch", "model", "optimiser", "rule", "history", "best", "snapshot", "best_epoch",
               "elapsed"}


def _save_progress(path: Path, key: str, epoch: int, model: nets.Network, optimiser: torch.optim.Optimizer,
                   p: _Progress) -> None:
    weights.save(path, {  # through memory, then one atomic write: a full disk fails cleanly
        "fingerprint": key, "epoch": epoch, "model": _cpu_state(model),
        "optimiser": optimiser.state_dict(), "rule": p.rule.state(), "history": p.history,
        "best": p.best, "snapshot": p.snapshot, "best_epoch": p.best_epoch, "elapsed": p.elapsed,
    })


def _fit(name: str, params: cfg.Params, ds: Dataset, device: torch.device, resume_path: Path | None,
         progress: bool) -> TrainResult:
    run_cfg = params.run_config(name)
    net_cfg = params.network_config(run_cfg.network)
    tc = params.train
    key = fingerprint(run_cfg, net_cfg, tc, params.data)
    model = nets.build(run_cfg.network, net_cfg, seed=run_cfg.seed).to(device)
    mem = runtime.memory_layout(params.base)
    model = model.to(memory_format=mem)
    optimiser = torch.optim.Adam(model.parameters(), lr=net_cfg.lr)

    def make_rule(state=None):
        return stopping.make(run_cfg.stopping, tc.patience, tc.gate_patience, state)

    p = _resume(name, resume_path, key, model, optimiser, _Progress(make_rule()), make_rule)
    stop = bool(p.history) and p.history[-1].get("stop", False)
    x, y = ds.x_train_all, ds.y_train_all
    for epoch in range(p.start_epoch, run_cfg.max_epochs + 1):
        if stop:
            break
        started = time.perf_counter()
        perm = torch.randperm(len(ds.train_idx), generator=runtime.epoch_generator(run_cfg.seed, epoch))
        order = ds.train_idx[perm.to(ds.train_idx.device)]
        train_loss = train_epoch(model, optimiser, x, y, order, tc.batch_size, mem,
                                 desc=f"{name} epoch {epoch}" if progress else None)
        if not math.isfinite(train_loss):
            kept = (f"The last good state (epoch {epoch - 1}) is kept in {resume_path}. "
                    if epoch > 1 and resume_path is not None and resume_path.exists() else "Nothing was kept. ")
            raise TrainingDiverged(
                f"{name}: train loss is {train_loss} at epoch {epoch}; stopped. {kept}Lower the learning "
                f"rate (networks.{run_cfg.network}.lr) and rerun."
            )
        val_loss, val_pred = evaluate(model, x[ds.val_idx], y[ds.val_idx], tc.eval_batch_size)
        val_acc = float((val_pred == y[ds.val_idx].cpu().numpy()).mean())
        decision = p.rule.step(val_loss, train_loss)
        if decision.save:
            p.best, p.best_epoch = _cpu_state(model), epoch
        if epoch == tc.snapshot_epoch:
            p.snapshot = _cpu_state(model)
        seconds = time.perf_counter() - started
        p.elapsed += seconds
        stop = decision.stop
        p.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                          "val_accuracy": val_acc, "seconds": round(seconds, 3), "stop": stop})
        if progress:
            print(f"{name} epoch {epoch:3d}: train {train_loss:.4f}  val {val_loss:.4f}  "
                  f"val acc {val_acc:.4f}  {seconds:.1f} s{' *' if decision.save else ''}", flush=True)
        if resume_path is not None:
            _save_progress(resume_path, key, epoch, model, optimiser, p)

    if p.best is None:  # the gate never opened: nothing was checkpointed, keep the last epoch
        p.best, p.best_epoch = _cpu_state(model), len(p.history)
    return TrainResult(p.best, p.snapshot, p.history, p.best_epoch, len(p.history), p.elapsed)
