"""Stage train@RUN: train one network with the original protocol and evaluate it on the test set.

Protocol (original_setup.md section 3): mean-subtracted images, seeded 40,000/10,000 split, batch 250,
Adam with the network's learning rate, cross-entropy on logits, early stopping (params `stopping`),
restore the best checkpoint, keep the epoch-5 snapshot.

    python -m replication.train RUN      # writes results/train/RUN/
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from tqdm import tqdm

from replication import cli, nets, runtime, stopping
from replication import config as cfg
from replication.io import atomic_path, dumps_json, write_bytes, write_csv, write_json

RESULTS = Path("results/train")
RESUME = Path(".resume/train")
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "seconds"]


class TrainingDiverged(RuntimeError):
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
    blob = dumps_json([cfg.as_dict(x) for x in (run, net, train, data)])
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


def test_metrics(model: torch.nn.Module, ds: runtime.Dataset, batch: int) -> dict:
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
                order: torch.Tensor, batch_size: int, layout: torch.memory_format = torch.contiguous_format,
                desc: str | None = None) -> float:
    """One pass over the rows in `order`, in batches; returns the mean of the per-batch losses."""
    model.train()
    losses = []
    bar = tqdm(order.split(batch_size), desc=desc, leave=False, disable=desc is None, unit="batch")
    for idx in bar:
        loss = F.cross_entropy(model(x[idx].contiguous(memory_format=layout)), y[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.detach())
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{torch.stack(losses).mean().item():.4f}")
    return torch.stack(losses).mean().item()


def run(
    name: str,
    params: cfg.Params,
    ds: runtime.Dataset,
    device: torch.device,
    resume_path: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train run `name` on `ds`; resumes from `resume_path` when it holds a matching checkpoint."""
    spec = params.run(name)
    net_cfg = params.network(spec.network)
    tc = params.train
    key = fingerprint(spec, net_cfg, tc, params.data)
    if not 1 <= tc.snapshot_epoch <= spec.max_epochs:
        raise cfg.ConfigError(
            f"params.yaml: train.snapshot_epoch is {tc.snapshot_epoch}; it must be between 1 and "
            f"runs.{name}.max_epochs ({spec.max_epochs})"
        )

    model = nets.build(spec.network, net_cfg, seed=spec.seed).to(device)
    layout = torch.channels_last if params.base.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    optimiser = torch.optim.Adam(model.parameters(), lr=net_cfg.lr)
    rule = stopping.make(spec.stopping, tc.patience, tc.gate_patience)
    history: list[dict] = []
    best = snapshot = None
    best_epoch, start_epoch, elapsed = 0, 1, 0.0

    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == key:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            rule = stopping.make(spec.stopping, tc.patience, tc.gate_patience, state["rule"])
            history, best, snapshot = state["history"], state["best"], state["snapshot"]
            best_epoch, elapsed = state["best_epoch"], state["elapsed"]
            start_epoch = state["epoch"] + 1
            print(f"{name}: resuming after epoch {state['epoch']} from {resume_path}")
        else:
            print(f"{name}: {resume_path} was made with other params; starting afresh")

    stop = bool(history) and history[-1].get("stop", False)
    x, y = ds.x_train_all, ds.y_train_all
    for epoch in range(start_epoch, spec.max_epochs + 1):
        if stop:
            break
        started = time.perf_counter()
        perm = torch.randperm(len(ds.train_idx), generator=runtime.epoch_generator(spec.seed, epoch))
        order = ds.train_idx[perm.to(ds.train_idx.device)]
        train_loss = train_epoch(model, optimiser, x, y, order, tc.batch_size, layout,
                                 desc=f"{name} epoch {epoch}" if progress else None)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"{name}: train loss is {train_loss} at epoch {epoch}; stopped. The last good "
                f"state (epoch {epoch - 1}) is kept in {resume_path}. Lower the learning rate "
                f"(networks.{spec.network}.lr) and rerun."
            )
        val_loss, val_pred = evaluate(model, x[ds.val_idx], y[ds.val_idx], tc.eval_batch_size)
        val_acc = float((val_pred == y[ds.val_idx].cpu().numpy()).mean())
        decision = rule.step(val_loss, train_loss)
        if decision.save:
            best, best_epoch = _cpu_state(model), epoch
        if epoch == tc.snapshot_epoch:
            snapshot = _cpu_state(model)
        seconds = time.perf_counter() - started
        elapsed += seconds
        stop = decision.stop
        history.append({
            "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
            "val_accuracy": val_acc, "seconds": round(seconds, 3), "stop": stop,
        })
        if progress:
            mark = " *" if decision.save else ""
            print(f"{name} epoch {epoch:3d}: train {train_loss:.4f}  val {val_loss:.4f}  "
                  f"val acc {val_acc:.4f}  {seconds:.1f} s{mark}", flush=True)
        if resume_path is not None:
            with atomic_path(resume_path) as tmp:
                torch.save({
                    "fingerprint": key, "epoch": epoch, "model": _cpu_state(model),
                    "optimiser": optimiser.state_dict(), "rule": rule.state(), "history": history,
                    "best": best, "snapshot": snapshot, "best_epoch": best_epoch, "elapsed": elapsed,
                }, tmp)

    if best is None:  # the gate never opened: nothing was checkpointed, keep the last epoch
        best, best_epoch = _cpu_state(model), len(history)
    return TrainResult(best, snapshot, history, best_epoch, len(history), elapsed)


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    """torch.save through memory, then an atomic write: the archive's inner folder name is fixed
    ("archive"), so the same tensors always give the same bytes (a temp file name would leak in)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def weights_path(run_name: str, which: str) -> Path:
    """Where train@RUN writes its weights ('final' or 'snapshot')."""
    return RESULTS / run_name / f"{which}.pt"


def load_weights(params: cfg.Params, run_name: str, which: str, device: torch.device | str = "cpu") -> nets.Network:
    """Rebuild run's network and load its saved weights."""
    path = weights_path(run_name, which)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run `dvc repro train@{run_name}` first")
    spec = params.run(run_name)
    model = nets.build(spec.network, params.network(spec.network))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.train", description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a key of `runs` in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    params = cfg.load(args.params)
    spec = params.run(args.run)
    device = runtime.setup(params.base)
    ds = runtime.load_dataset(params.data, device)
    resume = RESUME / f"{args.run}.pt"
    result = run(args.run, params, ds, device, resume_path=resume)

    out = RESULTS / args.run
    out.mkdir(parents=True, exist_ok=True)
    model = nets.build(spec.network, params.network(spec.network)).to(device)
    model.load_state_dict(result.weights)
    metrics = test_metrics(model, ds, params.train.eval_batch_size)
    metrics.update({
        "network": spec.network,
        "params": nets.count_params(model),
        "epochs_run": result.epochs_run,
        "restored_epoch": result.restored_epoch,
        "seconds": round(result.seconds, 1),
        "device": device.type,
        "torch": torch.__version__.split("+")[0],
    })
    snapshot = result.snapshot if result.snapshot is not None else result.weights
    model.load_state_dict(snapshot)
    metrics["snapshot"] = {
        "epoch": min(params.train.snapshot_epoch, result.epochs_run),
        **test_metrics(model, ds, params.train.eval_batch_size),
    }
    save_weights(weights_path(args.run, "snapshot"), snapshot)
    save_weights(weights_path(args.run, "final"), result.weights)
    write_csv(out / "history.csv", result.history, HISTORY_COLUMNS)
    write_json(out / "metrics.json", metrics)
    resume.unlink(missing_ok=True)
    print(f"{args.run}: test accuracy {metrics['test_accuracy']:.4f}, restored epoch "
          f"{result.restored_epoch} of {result.epochs_run}, {result.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    cli.main(main)
