"""CUDA check and pipeline timing on a GPU machine (never needed: the pipeline runs on CPU).

The real CIFAR-10 does not travel to the GPU machine, so images here are seeded random uint8
arrays of the real shapes (50,000 training, 10,000 test): per-epoch time does not depend on pixel
values. It checks and measures, in one process:

1. the shared training loop (`training.fit`, device cuda, resume file, test metrics) on a 5,000-image
   subset twice: are two CUDA runs identical, and how far is a CPU run of the same params?
2. seconds per epoch of every network at full size (40,000 gradient rows, 10,000 validation rows),
   beside the CPU seconds per epoch recorded in results/train/*/history.csv where present;
3. one alpha of a 50,000 x 4,096 representation (forest on the CPU cores, `--jobs`);
4. an estimate of the whole pipeline on this machine: epochs run per network (from the committed
   metrics, else the original's) times seconds per epoch, plus alpha time per layer.

    PYTHONPATH=. python bench/cuda_pipeline.py [--epochs 2] [--jobs 16] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from replication.analysis.originals import originals
from replication.core import registry as layout
from replication.core import runtime
from replication.estimator import settings as cfg
from replication.estimator import wavelets
from replication.networks import dataset, features, nets, training


def _replace(model, **changes):
    """A frozen settings model with some fields changed."""
    return model.model_copy(update=changes)


def fake_dataset(params: cfg.Params, n_train: int, n_test: int, device: torch.device) -> dataset.Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, n_train)
    xt = rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8)
    yt = rng.integers(0, 10, n_test)
    data = _replace(params.data, val_size=n_train // 5)
    tr, va = dataset.split_indices(n_train, data)
    return dataset.Dataset(dataset.normalise(x, data).to(device), torch.from_numpy(y).to(device),
                           torch.from_numpy(tr).to(device), torch.from_numpy(va).to(device),
                           dataset.normalise(xt, data).to(device), torch.from_numpy(yt).to(device))


def check_loop(params: cfg.Params, device: torch.device) -> dict:
    """training.fit twice on CUDA and once on CPU with the same params (3 epochs, 5,000 images)."""
    runs = {"check": _replace(params.run_config("resnet12"), max_epochs=3)}
    p = _replace(params, runs=runs, train=_replace(params.train, snapshot_epoch=1))
    out = {}
    for name, dev in (("cuda_a", device), ("cuda_b", device), ("cpu", torch.device("cpu"))):
        ds = fake_dataset(p, 5000, 1000, dev)
        with tempfile.TemporaryDirectory() as tmp:
            result = training.fit("check", p, ds, dev, resume_path=Path(tmp) / "r.pt", progress=False)
        model = nets.build("resnet12", p.network_config("resnet12")).to(dev)
        model.load_state_dict(result.weights)
        out[name] = {"val_loss": [h["val_loss"] for h in result.history],
                     "test_accuracy": training.test_metrics(model, ds, p.train.eval_batch_size)["test_accuracy"],
                     "weights": {k: v.double() for k, v in result.weights.items()}}
    same = all(torch.equal(out["cuda_a"]["weights"][k], out["cuda_b"]["weights"][k]) for k in out["cpu"]["weights"])
    diff = max(float((out["cuda_a"]["weights"][k] - out["cpu"]["weights"][k]).abs().max())
               for k in out["cpu"]["weights"])
    return {"cuda_runs_identical": same, "max_weight_diff_cuda_vs_cpu": diff,
            "val_loss": {k: v["val_loss"] for k, v in out.items()},
            "test_accuracy": {k: v["test_accuracy"] for k, v in out.items()}}


def cpu_seconds_per_epoch(run: str) -> float | None:
    path = layout.history(run)
    if not path.exists():
        return None
    with path.open() as f:
        secs = [float(r["seconds"]) for r in csv.DictReader(f)]
    return float(np.median(secs))


def epochs_run(run: str, params: cfg.Params) -> tuple[int, str]:
    path = layout.train_metrics(run)
    if path.exists():
        return json.loads(path.read_text())["epochs_run"], "committed run"
    orig = originals()["runs"]
    net = params.run_config(run).network
    if run in orig:
        return orig[run]["epochs_run"], "original"
    return orig.get(net, {"epochs_run": 40})["epochs_run"], "original (same network)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per network, after one warm-up epoch")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--out", default="")
    parser.add_argument("--images", type=int, default=50_000, help="fewer for a smoke test")
    parser.add_argument("--device", default="cuda", help="cpu only for a smoke test of this script")
    args = parser.parse_args()
    params = cfg.load()
    device = runtime.setup(_replace(params.base, device=args.device))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    report: dict = {"device": name, "torch": torch.__version__,
                    "cpu_threads": torch.get_num_threads()}
    started = time.perf_counter()
    report["loop_check"] = check_loop(params, device)
    print(json.dumps(report["loop_check"], indent=1), flush=True)

    ds = fake_dataset(params, args.images, args.images // 5, device)
    layout = runtime.memory_layout(params.base)
    per_net = {}
    for net_name, net_cfg in params.networks.items():
        model = nets.build(net_name, net_cfg, seed=0).to(device).to(memory_format=layout)
        opt = torch.optim.Adam(model.parameters(), lr=net_cfg.lr)
        times = []
        for epoch in range(args.epochs + 1):
            sync()
            t0 = time.perf_counter()
            order = ds.train_idx[torch.randperm(len(ds.train_idx), device=device)]
            training.train_epoch(model, opt, ds.x_train_all, ds.y_train_all, order, params.train.batch_size, layout)
            val = ds.val_idx
            training.evaluate(model, ds.x_train_all[val], ds.y_train_all[val], params.train.eval_batch_size)
            sync()
            if epoch:
                times.append(time.perf_counter() - t0)
        per_net[net_name] = float(np.median(times))
        print(f"{net_name:22s} {per_net[net_name]:6.2f} s/epoch on {device.type}", flush=True)

    model = nets.build("resnet12", params.network_config("resnet12"), seed=0).to(device)
    rep = features.representation(model, ds.x_train_all, "conv11+identity_relu", batch=5000)
    t0 = time.perf_counter()
    res = wavelets.besov_alpha(rep, ds.y_train_all.cpu().numpy(), params.smoothness.estimator(params.smoothness.lead),
                               n_jobs=args.jobs, n_classes=10)
    alpha_4096 = time.perf_counter() - t0
    report["alpha_4096_seconds"] = alpha_4096
    print(f"alpha of {rep.shape[0]:,} x {rep.shape[1]} ({params.smoothness.lead}, {args.jobs} jobs): "
          f"{alpha_4096:.1f} s (alpha {res.alpha:.4f} on random data)", flush=True)

    rows, total_train = [], 0.0
    for run, run_cfg in params.runs.items():
        n_epochs, source = epochs_run(run, params)
        gpu = per_net[run_cfg.network] * n_epochs
        cpu = cpu_seconds_per_epoch(run)
        total_train += gpu
        rows.append({"run": run, "epochs": n_epochs, "epochs_from": source,
                     "cuda_s_per_epoch": per_net[run_cfg.network],
                     "cpu_s_per_epoch": cpu, "cuda_minutes": gpu / 60})
        ratio = f"{cpu / per_net[run_cfg.network]:5.1f}x" if cpu else "   n/a"
        print(f"{run:22s} {n_epochs:3d} epochs ({source}): CUDA {gpu / 60:5.1f} min; CPU s/epoch "
              f"{cpu if cpu else float('nan'):6.1f} vs CUDA {per_net[run_cfg.network]:5.2f} = {ratio}")
    networks = [params.run_config(t.run).network for t in params.smoothness.targets.values()]
    n_layers = sum(len(nets.build(n, params.network_config(n)).probes) + 1 for n in networks)
    alpha_total = n_layers * alpha_4096  # an upper bound: most layers have fewer features
    report.update(per_net_seconds_per_epoch=per_net, runs=rows, train_minutes=total_train / 60,
                  smoothness_layers=n_layers, smoothness_minutes_upper=alpha_total / 60,
                  wall_seconds=time.perf_counter() - started)
    print(f"estimate on this machine: training {total_train / 60:.1f} min, smoothness <= {alpha_total / 60:.1f} min "
          f"({n_layers} layers at the 4,096-feature time); this script {report['wall_seconds']:.0f} s")
    if args.out:
        Path(args.out, "cuda_pipeline.json").write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
