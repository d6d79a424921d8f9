"""Stage report: gather every result, draw the figures, render HTML with Jinja2 and PDF with WeasyPrint.

Deterministic: no dates, host names or absolute paths; SVG figures with a fixed hash salt and no
date metadata; the same inputs give the same bytes.

    python -m replication.report      # writes report/index.html, report/report.pdf, report/figures/
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import jinja2
import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from replication import cli  # noqa: E402
from replication import config as cfg  # noqa: E402
from replication import data as cifar  # noqa: E402
from replication.io import atomic_path, file_md5, read_csv, read_json, write_text  # noqa: E402
from replication.nets import describe  # noqa: E402

OUT = Path("report")
TEMPLATES = Path("report_templates")
PACKAGES = ["torch", "torchvision", "numpy", "scikit-learn", "dvc", "matplotlib", "jinja2", "weasyprint"]
RESNET, PLAIN, ORIGINAL = "#1f5fa8", "#c8553d", "#7a7a7a"

plt.rcParams.update({
    "svg.hashsalt": "replication", "svg.fonttype": "path", "font.size": 9, "axes.titlesize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
})


class ReportError(RuntimeError):
    """A result the report needs is missing or inconsistent."""


def originals() -> dict:
    """The original study's numbers (package data, each with its source)."""
    return json.loads(resources.files("replication").joinpath("originals.json").read_text())


# --------------------------------------------------------------------------- gathering


def _need(path: Path, stage: str):
    if not path.exists():
        raise ReportError(f"{path} is missing: the report needs it; run `dvc repro {stage}` first")
    return read_json(path) if path.suffix == ".json" else read_csv(path)


def gather(params: cfg.Params, root: Path = Path(".")) -> dict:
    """Every result the report shows, keyed by kind; missing inputs raise ReportError naming them."""
    res = root / "results"
    runs = {}
    for name in params.runs:
        runs[name] = {
            "metrics": _need(res / "train" / name / "metrics.json", f"train@{name}"),
            "history": _need(res / "train" / name / "history.csv", f"train@{name}"),
        }
    alphas = {t: _need(res / "smoothness" / t / "alphas.json", f"smoothness@{t}") for t in params.smoothness.targets}
    mislabel = {
        preset: [_need(res / "mislabel" / preset / f"{rate}.json", f"mislabel@{preset}-{rate}")
                 for rate in params.mislabel.rates]
        for preset in params.mislabel.presets
    }
    retrain = {rate: _need(res / "retrain" / str(rate) / "result.json", f"retrain@{rate}")
               for rate in params.mislabel.retrain}
    return {
        "runs": runs, "alphas": alphas, "mislabel": mislabel, "retrain": retrain,
        "overfit": _need(res / "overfit" / "summary.json", "overfit"),
        "suggestions": _need(res / "suggestions.json", "suggest"),
    }


# --------------------------------------------------------------------------- figures


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return f"figures/{path.name}"


def _color(network: str) -> str:
    return RESNET if network.startswith("resnet") else PLAIN


def fig_curves(params: cfg.Params, results: dict, names: list[str], path: Path, cols: int = 4,
               orig_curves: dict | None = None) -> str:
    """Train and validation loss per epoch, restored epoch marked, one panel per run; the original's
    read-off points as open markers where `orig_curves` has them."""
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 1.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        h = results["runs"][name]["history"]
        m = results["runs"][name]["metrics"]
        epoch = [int(r["epoch"]) for r in h]
        ax.plot(epoch, [float(r["train_loss"]) for r in h], color="#d9a400", label="train")
        ax.plot(epoch, [float(r["val_loss"]) for r in h], color=RESNET, label="validation")
        for key, color in (("train_loss", "#d9a400"), ("val_loss", RESNET)):
            points = (orig_curves or {}).get(name, {}).get(key, {})
            if points:
                ax.plot([int(e) for e in points], list(points.values()), "o", ms=3.5, mfc="none", color=color,
                        label="original" if key == "val_loss" else None)
        if params.run(name).stopping != "none":
            ax.axvline(m["restored_epoch"], color="red", ls="--", lw=1, label="restored")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel("cross-entropy", fontsize=7)
        ax.tick_params(labelsize=6.5)
    spare = list(axes.flat)[len(names):]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if spare:  # the legend in an empty panel, off the curves
        spare[0].legend(handles, labels, fontsize=7.5, frameon=False, loc="center")
    else:
        axes.flat[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def fig_alpha_bars(results: dict, targets: list[str], path: Path, ylim: float) -> str:
    """Per-layer alpha bar charts, one panel per smoothness target, same y-axis for all."""
    cols = 2
    rows = math.ceil(len(targets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 2.7 * rows), squeeze=False)
    for ax, target in zip(axes.flat, targets, strict=False):
        a = results["alphas"][target]
        layers = [r["layer"] for r in a["layers"]]
        values = [r["alpha"] for r in a["layers"]]
        ax.bar(range(len(values)), values, color=_color(a["network"]))
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=5.5, rotation=90)
        ax.set_xticks(range(len(layers)), layers, rotation=90, fontsize=6.5)
        ax.set_ylim(0, ylim)
        ax.set_title(target)
        ax.set_ylabel("alpha")
    for ax in list(axes.flat)[len(targets):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _layer_ticks(ax, rows: list[dict]) -> None:
    ax.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=90, fontsize=6)


def fig_overlay(results: dict, pairs: list[tuple[str, str]], path: Path) -> str:
    """Two targets' per-layer alphas as lines on a shared layer axis, one panel per pair."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(7.2, 2.8), squeeze=False)
    for ax, (a, b) in zip(axes.flat, pairs, strict=False):
        for target, style in ((a, "-o"), (b, "--s")):
            rows = results["alphas"][target]["layers"]
            ax.plot(range(len(rows)), [r["alpha"] for r in rows], style, ms=3, label=target)
        _layer_ticks(ax, results["alphas"][a]["layers"])
        ax.set_ylabel("alpha")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def fig_mislabel(results: dict, orig: dict, params: cfg.Params, path: Path) -> str:
    """Alpha of the last layer against the fraction of shuffled labels, original beside reproduced."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.8))
    rates = list(params.mislabel.rates)
    ax.plot(orig["mislabel"]["rates"], orig["mislabel"]["alpha"], "k--o", ms=7, mfc="none", zorder=3,
            label="original (as_run)")
    for preset, color in zip(params.mislabel.presets, (RESNET, PLAIN, "#4b8b3b"), strict=False):
        rows = results["mislabel"][preset]
        mean = [r["alpha_mean"] for r in rows]
        lo = [r["alpha_min"] for r in rows]
        hi = [r["alpha_max"] for r in rows]
        ax.plot(rates, mean, "-o", ms=4, color=color, label=f"reproduced, {preset}")
        ax.fill_between(rates, lo, hi, color=color, alpha=0.2, lw=0)
    ax.set_xlabel("fraction of labels shuffled")
    ax.set_ylabel("alpha of fc1")
    ax.legend(fontsize=7, frameon=False)
    first = params.mislabel.presets[0]
    for r in results["mislabel"][first]:
        s = r["seeds"][0]
        ax2.plot(s["m"], s["mse"], label=f"{r['rate']:.0%}")
    ax2.set_xlabel("number of wavelets M")
    ax2.set_ylabel("forest MSE (per output)")
    ax2.set_title(f"{first}, first seed", fontsize=8)
    ax2.legend(fontsize=7, frameon=False, title="shuffled", title_fontsize=7, loc="center left",
               bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _save(fig, path)


def fig_confusions(results: dict, names: list[str], path: Path) -> str:
    """Column-normalised confusion matrices (diagonal = per-class precision), as originally shown."""
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 1.95 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        cm = np.asarray(results["runs"][name]["metrics"]["confusion_matrix"], dtype=float)
        col = cm.sum(axis=0, keepdims=True)
        norm = np.divide(cm, col, out=np.zeros_like(cm), where=col > 0)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(name, fontsize=7)
        ax.set_xticks(range(10), [c[:3] for c in cifar.CLASSES], fontsize=5, rotation=90)
        ax.set_yticks(range(10), [c[:3] for c in cifar.CLASSES], fontsize=5)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def fig_seeds(results: dict, groups: dict, path: Path) -> str:
    """Per-layer alpha of each seed of a group: the spread a single run hides."""
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(7.2, 2.6), squeeze=False)
    for ax, (group, runs) in zip(axes.flat, groups.items(), strict=False):
        for run in runs:
            if run in results["alphas"]:
                rows = results["alphas"][run]["layers"]
                ax.plot(range(len(rows)), [r["alpha"] for r in rows], "-o", ms=2.5, lw=1, label=run)
                _layer_ticks(ax, rows)
        ax.set_title(group)
        ax.set_ylabel("alpha")
        ax.legend(fontsize=6.5, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- numbers and sentences


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def seed_table(params: cfg.Params, results: dict) -> list[dict]:
    """Mean and spread over seeds of accuracy, restored epoch and per-layer alpha."""
    rows = []
    for group, runs in params.report.seed_groups.items():
        acc = [results["runs"][r]["metrics"]["test_accuracy"] for r in runs]
        ep = [results["runs"][r]["metrics"]["restored_epoch"] for r in runs]
        snaps = [results["runs"][r]["metrics"].get("snapshot") for r in runs]
        snap = _mean_std([x["test_accuracy"] for x in snaps]) if all(snaps) else None
        with_alpha = [r for r in runs if r in results["alphas"]]
        layers = [row["layer"] for row in results["alphas"][with_alpha[0]]["layers"]] if with_alpha else []
        per_layer = []
        for i, layer in enumerate(layers):
            per_layer.append((layer, *_mean_std([results["alphas"][r]["layers"][i]["alpha"] for r in with_alpha])))
        rows.append({"group": group, "runs": runs, "accuracy": _mean_std(acc), "epoch": _mean_std(ep),
                     "accuracies": acc, "epochs": ep, "snapshot": snap, "alpha": per_layer, "n_alpha": len(with_alpha)})
    return rows


def fig_retrain(results: dict, baseline: str, path: Path) -> str:
    """Alpha per layer of networks retrained on shuffled labels, beside the clean network."""
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    rows = results["alphas"][baseline]["layers"] if baseline in results["alphas"] else None
    if rows is not None:
        ax.plot(range(len(rows)), [r["alpha"] for r in rows], "k-o", ms=3, label=f"{baseline} (clean labels)")
    for rate, r in results["retrain"].items():
        ax.plot(range(len(r["layers"])), [x["alpha"] for x in r["layers"]], "-s", ms=3,
                label=f"retrained, {rate:.0%} shuffled")
    _layer_ticks(ax, rows or next(iter(results["retrain"].values()))["layers"])
    ax.set_ylabel("alpha")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def single_runs(params: cfg.Params) -> list[str]:
    """Runs shown one by one: every run except extra seeds and the long run without early stopping."""
    extra = {r for runs in params.report.seed_groups.values() for r in runs[1:]}
    return [r for r, spec in params.runs.items() if r not in extra and spec.stopping != "none"]


def compute_times(results: dict) -> dict:
    """Wall minutes of every training and smoothness stage, as recorded in their outputs."""
    rows = [{"stage": f"train@{name}", "minutes": r["metrics"]["seconds"] / 60,
             "detail": f"{r['metrics']['epochs_run']} epochs, {r['metrics'].get('device', '?')}"}
            for name, r in results["runs"].items()]
    rows += [{"stage": f"smoothness@{t}", "minutes": sum(x["seconds"] for x in a["layers"]) / 60,
              "detail": f"{len(a['layers'])} layers"} for t, a in results["alphas"].items()]
    rows += [{"stage": f"retrain@{rate}", "minutes": r["seconds"] / 60, "detail": f"{r['epochs_run']} epochs + alphas"}
             for rate, r in results["retrain"].items()]
    train = sum(r["minutes"] for r in rows if r["stage"].startswith("train@"))
    smooth = sum(r["minutes"] for r in rows if r["stage"].startswith("smoothness@"))
    return {"rows": rows, "train_hours": train / 60, "smoothness_hours": smooth / 60,
            "total_hours": sum(r["minutes"] for r in rows) / 60}


def analysed_targets(params: cfg.Params) -> list[str]:
    """Final-weight targets of single runs: no extra seeds, no epoch snapshots, no overfit run."""
    runs = set(single_runs(params))
    return [t for t, spec in params.smoothness.targets.items() if spec.weights == "final" and spec.run in runs]


def _order(values: dict[str, float]) -> list[str]:
    return sorted(values, key=values.get, reverse=True)


def conclusions(params: cfg.Params, results: dict, orig: dict, seeds: list[dict]) -> list[dict]:
    """Sentences computed from this run's numbers, one per claim of the original."""
    out = []
    m = {k: v["metrics"] for k, v in results["runs"].items()}
    spread = {row["group"]: row for row in seeds}

    def add(claim: str, holds: bool | None, text: str) -> None:
        verdict = {True: "holds", False: "does not hold", None: "inconclusive"}[holds]
        out.append({"claim": orig["claims"][claim], "verdict": verdict, "text": text})

    if "resnet12" in m and "plain12" in m:
        r, p = m["resnet12"]["restored_epoch"], m["plain12"]["restored_epoch"]
        text = (f"ResNet12 was restored at epoch {r} and Plain12 at epoch {p} "
                f"({'ResNet12 earlier by ' + str(p - r) if r < p else 'ResNet12 not earlier'}; original 30 vs 44).")
        if "resnet12" in spread and "plain12" in spread:
            (rm, rs), (pm, ps) = spread["resnet12"]["epoch"], spread["plain12"]["epoch"]
            text += f" Over seeds: {rm:.1f} ± {rs:.1f} vs {pm:.1f} ± {ps:.1f}."
        add("resnet_converges_faster", r < p, text)

    analysed = analysed_targets(params)
    snapshots = [t for t, spec in params.smoothness.targets.items()
                 if spec.weights == "snapshot" and spec.run in {params.target(a).run for a in analysed}]
    ranked = analysed + snapshots  # the original compared final networks and their epoch-5 snapshots

    def accuracy(target: str) -> float:
        spec = params.target(target)
        metrics = m[spec.run]
        return metrics["snapshot"]["test_accuracy"] if spec.weights == "snapshot" else metrics["test_accuracy"]

    fc1 = {t: results["alphas"][t]["layers"][-1]["alpha"] for t in ranked}
    acc = {t: accuracy(t) for t in ranked}
    if len(fc1) >= 3:
        ranks_a = {t: i for i, t in enumerate(_order(fc1))}
        ranks_b = {t: i for i, t in enumerate(_order(acc))}
        n = len(fc1)
        rho = 1 - 6 * sum((ranks_a[t] - ranks_b[t]) ** 2 for t in fc1) / (n * (n * n - 1))
        add("fc1_alpha_tracks_accuracy", rho > 0.5 if n >= 4 else None,
            f"Across the {n} analysed networks (final and epoch-{params.train.snapshot_epoch} snapshots), the "
            f"Spearman rank correlation of fc1 alpha with test accuracy is {rho:.2f} "
            f"(order by alpha: {', '.join(_order(fc1))}; by accuracy: "
            f"{', '.join(_order(acc))}).")

    jumps = []
    for t in analysed:
        vals = [r["alpha"] for r in results["alphas"][t]["layers"]]
        jumps.append(vals[-1] == max(vals) and vals[-1] > 1.5 * max(vals[:-1]))
    if jumps:
        add("alpha_rises_abruptly_at_fc1", all(jumps),
            f"fc1 has the largest alpha, more than 1.5 times any earlier layer, in {sum(jumps)} of "
            f"{len(jumps)} analysed networks.")

    first = params.mislabel.presets[0]
    means = [r["alpha_mean"] for r in results["mislabel"][first]]
    stds = [r["alpha_std"] for r in results["mislabel"][first]]
    monotone = all(a > b for a, b in zip(means, means[1:], strict=False))
    gap = means[0] - means[-1]
    add("mislabel_lowers_alpha", monotone and gap > 2 * max(stds),
        f"With {first}, the mean fc1 alpha goes {' > '.join(f'{v:.4f}' for v in means)} from "
        f"{params.mislabel.rates[0]:.0%} to {params.mislabel.rates[-1]:.0%} shuffled "
        f"({'monotone' if monotone else 'not monotone'}; the fall {gap:.4f} vs the largest seed spread "
        f"{max(stds):.4f}).")

    o = results["overfit"]
    fc = o["layers"][-1]
    holds = o["conv_layers_lower"] > o["conv_layers"] / 2 and fc["difference"] > 0
    add("overfit_conv_lower_fc1_higher", holds,
        f"After {o['epochs']} epochs without early stopping, {o['conv_layers_lower']} of {o['conv_layers']} conv "
        f"layers have a lower alpha than the early-stopped ResNet12, and fc1's alpha is "
        f"{fc['overfit']:.4f} vs {fc['baseline']:.4f} ({'higher' if fc['difference'] > 0 else 'not higher'}); "
        f"test accuracy {o['test_accuracy']:.2%} vs {o['baseline_test_accuracy']:.2%}.")

    parts, ok = [], []
    for target, s in results["suggestions"].items():
        for mod in s["modified"]:
            if "noavgpool" in mod["run"]:
                continue
            diff = mod["test_accuracy"] - s["test_accuracy"]
            ok.append(diff > -0.01)
            parts.append(f"{mod['run']} {mod['test_accuracy']:.2%} vs {target} {s['test_accuracy']:.2%} "
                         f"({mod['params']:,} vs {s['params']:,} parameters)")
    if parts:
        add("smaller_networks_do_as_well", all(ok),
            "Within one point of the initial network or better in " f"{sum(ok)} of {len(ok)} pairs: "
            + "; ".join(parts) + ".")
    return out


def _count(k: int, n: int) -> str:
    """'none of the 6', '1 of 6', '6 of 6'."""
    return f"none of the {n}" if k == 0 else f"{k} of {n}"


NOISE_SDS = 2.0  # a difference "exceeds the seed noise" when it is larger than this many seed sds


def noise_findings(params: cfg.Params, results: dict, orig: dict, seeds: list[dict]) -> list[str]:
    """Sentences that hold the differences of this run against the spread measured by the seed runs.

    With three seeds an sd is a rough estimate; the threshold is NOISE_SDS times it, and the
    sentences give the ratios so a reader can apply a stricter one.
    """
    groups = [g for g in seeds if len(g["runs"]) >= 2]
    if not groups:
        return []
    k = NOISE_SDS
    out = []

    def ratio(diff: float, sd: float) -> str:
        return f"{abs(diff) / sd:.1f} sd" if sd > 0 else "sd 0"

    # Between networks: every pair of seed groups.
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            (am, asd), (bm, bsd) = a["accuracy"], b["accuracy"]
            (ae, aes), (be, bes) = a["epoch"], b["epoch"]
            text = (f"{a['group']} vs {b['group']} over {len(a['runs'])} and {len(b['runs'])} seeds: test accuracy "
                    f"{am:.2%} ± {100 * asd:.2f} vs {bm:.2%} ± {100 * bsd:.2f}, a gap of {100 * (am - bm):+.2f} "
                    f"points ({ratio(am - bm, max(asd, bsd))} of the larger spread); restored epoch {ae:.1f} ± "
                    f"{aes:.1f} vs {be:.1f} ± {bes:.1f} ({ratio(ae - be, max(aes, bes))})")
            if a["n_alpha"] >= 2 and b["n_alpha"] >= 2:
                (_, afm, afs), (_, bfm, bfs) = a["alpha"][-1], b["alpha"][-1]
                text += (f"; fc1 alpha {afm:.4f} ± {afs:.4f} vs {bfm:.4f} ± {bfs:.4f} "
                         f"({ratio(afm - bfm, max(afs, bfs))})")
            out.append(text + ".")

    # Against the original: the seed means, then every single run against the largest accuracy spread.
    def against(value: float, sd: float, original: float) -> tuple[str, str]:
        """The difference in points and in seed sds."""
        return f"{100 * (value - original):+.2f} points", ratio(value - original, sd)

    means = []
    for g in groups:
        if g["runs"][0] in orig["runs"]:
            points, sds = against(*g["accuracy"], orig["runs"][g["runs"][0]]["test_accuracy"])
            means.append(f"{g['group']} {points} ({sds})")
    noise = max(g["accuracy"][1] for g in groups)
    single = [r for r in single_runs(params) if r in orig["runs"] and r in results["runs"]]
    gaps = {r: results["runs"][r]["metrics"]["test_accuracy"] - orig["runs"][r]["test_accuracy"] for r in single}
    far = [f"{r} {100 * gap:+.2f}" for r, gap in gaps.items() if abs(gap) > k * noise]
    text = "Against the original: " + ("seed means " + ", ".join(means) + ". " if means else "")
    text += (f"Taking {k:g} x the largest accuracy sd ({100 * k * noise:.2f} points) as the noise level, "
             f"{_count(len(far), len(single))} single runs differ{'s' if len(far) == 1 else ''} from the "
             f"original by more"
             + (f" ({', '.join(far)})." if far else "."))
    snaps = []
    for g in groups:
        if g["snapshot"] and g["runs"][0] in orig["snapshots"]:
            original = orig["snapshots"][g["runs"][0]]["test_accuracy"]
            points, sds = against(*g["snapshot"], original)
            snaps.append(f"{g['group']} {g['snapshot'][0]:.2%} vs {original:.2%} ({points}, {sds})")
    if snaps:
        text += (f" Epoch-{params.train.snapshot_epoch} snapshots, seed mean against the original: "
                 + ", ".join(snaps) + ".")
    out.append(text)

    # Between layers: alpha falls (the smoothness-guided change) and the overfitted network's layers.
    by_run = {g["runs"][0]: g for g in groups if g["n_alpha"] >= 2}
    for target, sugg in results["suggestions"].items():
        g = by_run.get(params.target(target).run)
        drops = sugg["drops"]
        if g is None or params.target(target).weights != "final" or not drops:
            continue
        sd = {layer: s for layer, _, s in g["alpha"]}
        big = [d["layer"] for d in drops if d["drop"] > k * max(sd[d["layer"]], sd[d["previous"]])]
        out.append(f"{target}: {_count(len(big), len(drops))} alpha falls exceed{'s' if len(big) == 1 else ''} "
                   f"{k:g} x the seed sd of the two layers" + (f" ({', '.join(big)})" if big else "")
                   + ("; the others are" if big else "; they are")
                   + " within seed noise, too small to pick a layer to delete.")
    o = results["overfit"]
    baseline = o.get("baseline_run", params.overfit.baseline)
    g = by_run.get(baseline)
    if g is not None:
        sd = {layer: s for layer, _, s in g["alpha"]}
        # conv layers as the overfit stage counts them (its conv_layers / conv_layers_lower)
        rows = [r for r in o["layers"] if r["layer"].startswith("conv") and r["difference"] is not None
                and r["layer"] in sd]
        lower = [r for r in rows if r["difference"] < -k * sd[r["layer"]]]
        fc = o["layers"][-1]
        out.append(f"Overfitted {baseline}: {_count(len(lower), len(rows))} conv "
                   f"layers are lower by more than {k:g} seed sds; fc1 is higher by {fc['difference']:.4f} "
                   f"({ratio(fc['difference'], sd.get(fc['layer'], 0.0))}).")
    return out


# --------------------------------------------------------------------------- rendering


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _signed(x, digits: int = 2, scale: float = 100.0) -> str:
    return "n/a" if x is None else f"{scale * x:+.{digits}f}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, num=_num, signed=_signed, thousands=lambda x: f"{x:,}")
    return env


def provenance(params: cfg.Params, root: Path = Path(".")) -> dict:
    """Params, data hash, content hashes of every input file and package versions."""
    files = sorted(p for p in (root / "results").rglob("*") if p.is_file())
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "params_yaml": yaml.safe_dump(cfg.as_dict(params), sort_keys=False, width=100),
        "data_hash": cifar.expected_hash(root / "data.dvc"),
        "files": [{"path": p.relative_to(root).as_posix(), "md5": file_md5(p)} for p in files],
        "versions": versions,
    }


def build(params: cfg.Params, out: Path = OUT, root: Path = Path(".")) -> dict:
    """Render report/index.html and report/report.pdf; returns the template context."""
    orig = originals()
    results = gather(params, root)
    figures_dir = out / "figures"
    if figures_dir.exists():
        shutil.rmtree(figures_dir)
    figures_dir.mkdir(parents=True)

    train_runs = single_runs(params)
    seed_runs = [r for runs in params.report.seed_groups.values() for r in runs]
    targets = list(params.smoothness.targets)
    ymax = max(r["alpha"] for a in results["alphas"].values() for r in a["layers"])
    ylim = 1.15 * ymax if ymax > 0 else 1.0
    main_targets = [t for t in ("resnet12", "plain12", "resnet12_epoch5", "plain12_epoch5") if t in targets]
    other_targets = [t for t in analysed_targets(params) if t not in main_targets]
    fig = {
        "curves": fig_curves(params, results, train_runs, figures_dir / "curves.svg", orig_curves=orig["curves"]),
        "alpha_main": fig_alpha_bars(results, main_targets or targets[:4], figures_dir / "alpha_main.svg", ylim),
        "confusions": fig_confusions(results, train_runs, figures_dir / "confusions.svg"),
        "mislabel": fig_mislabel(results, orig, params, figures_dir / "mislabel.svg"),
    }
    if other_targets:
        fig["alpha_other"] = fig_alpha_bars(results, other_targets, figures_dir / "alpha_other.svg", ylim)
    overlays = {
        "resnet_vs_plain": (("resnet12", "plain12"), ("resnet12_tanh", "plain12_tanh")),
        "final_vs_epoch5": (("resnet12", "resnet12_epoch5"), ("plain12", "plain12_epoch5")),
        "overfit_alpha": ((params.overfit.baseline, params.overfit.run),),
    }
    for key, candidates in overlays.items():
        pairs = [(a, b) for a, b in candidates if a in targets and b in targets]
        if pairs:
            fig[key] = fig_overlay(results, pairs, figures_dir / f"{key}.svg")
    ov = params.overfit
    fig["overfit_curve"] = fig_curves(params, results, [ov.run, ov.baseline], figures_dir / "overfit_curve.svg",
                                      cols=2, orig_curves=orig["curves"])
    seeds = seed_table(params, results)
    if params.report.seed_groups:
        fig["seeds"] = fig_seeds(results, params.report.seed_groups, figures_dir / "seeds.svg")
        fig["seed_curves"] = fig_curves(params, results, seed_runs, figures_dir / "seed_curves.svg",
                                        cols=max(len(r) for r in params.report.seed_groups.values()))
    if results["retrain"]:
        fig["retrain"] = fig_retrain(results, params.mislabel.run, figures_dir / "retrain.svg")

    architectures = {name: describe(name, params.network(name)) for name in params.networks}
    context = {
        "title": params.report.title, "params": params, "results": results, "orig": orig, "fig": fig,
        "architectures": architectures, "seeds": seeds,
        "conclusions": conclusions(params, results, orig, seeds),
        "noise": noise_findings(params, results, orig, seeds),
        "estimator": results["alphas"][targets[0]]["estimator"], "preset": params.smoothness.preset,
        "provenance": provenance(params, root), "compute": compute_times(results),
        "n_train": next(iter(results["alphas"].values()))["n_samples"],
        "classes": cifar.CLASSES,
        "n_test": int(np.sum(next(iter(results["runs"].values()))["metrics"]["confusion_matrix"])),
        "max_epochs": sorted({spec.max_epochs for spec in params.runs.values()}),
        "made_on": sorted({f"{r['metrics'].get('device', 'unknown')} (torch {r['metrics'].get('torch', 'unknown')})"
                           for r in results["runs"].values()}),
    }
    html = environment().get_template("report.html").render(**context)
    write_text(out / "index.html", html)
    css = (TEMPLATES / "report.css").read_text()
    write_text(out / "report.css", css)
    from weasyprint import HTML

    # fontTools stamps the fonts it subsets into the PDF with the current time unless
    # SOURCE_DATE_EPOCH is set; a fixed stamp makes the same HTML give the same PDF bytes.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    with atomic_path(out / "report.pdf") as tmp:
        HTML(string=html, base_url=str(out)).write_pdf(tmp)
    return context


def main() -> int:
    params = cfg.load()
    try:
        build(params)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {OUT / 'index.html'} and {OUT / 'report.pdf'}")
    return 0


if __name__ == "__main__":
    cli.main(main)
