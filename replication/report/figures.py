"""The report's figures: matplotlib SVGs with a fixed hash salt and no date, so the same results give
the same bytes. Each function draws one kind of figure from gathered results and returns its path
relative to the report folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from replication.analysis.results import Results, short_layer  # noqa: E402
from replication.analysis.seed_groups import SeedGroup, by_first_run  # noqa: E402
from replication.core.files import atomic_path  # noqa: E402
from replication.report import settings as cfg  # noqa: E402

RESNET, PLAIN, ORIGINAL = "#1f5fa8", "#c8553d", "#7a7a7a"
MIN_FONT = 6.5  # the smallest text, in figure points: a 7.2-inch figure prints at about 0.97, so 6.3 pt

plt.rcParams.update({
    "svg.hashsalt": "replication", "svg.fonttype": "path", "font.size": 9, "axes.titlesize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
})


def _save(fig, path: Path) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return f"figures/{path.name}"


# One colour per network in every figure: blues for the ResNets, reds for the plain networks, the base
# ResNet12 and Plain12 first, the others of a family in name order; seeds and snapshots of a network share its
# colour and differ by line style.
_SHADES = {"resnet": (RESNET, "#5b9bd5", "#2a9d8f", "#6a3d9a", "#17becf", "#3b4cc0"),
           "plain": (PLAIN, "#e6a23c", "#8c564b", "#d6457d", "#b8a41c", "#7f2704")}
_BASE = {"resnet": "resnet12", "plain": "plain12"}
STYLES = ("-", "--", ":", "-.", (0, (1, 1)), (0, (5, 1)))


def _color(network: str, networks: tuple[str, ...] = ()) -> str:
    """The colour of `network`, among `networks` (all the networks a report shows; default: itself)."""
    family = "resnet" if network.startswith("resnet") else "plain"
    kin = sorted({n for n in (*networks, network) if ("resnet" if n.startswith("resnet") else "plain") == family},
                 key=lambda n: (n != _BASE[family], n))
    return _SHADES[family][kin.index(network) % len(_SHADES[family])]


NETWORKS: tuple[str, ...] = ()  # set by the report to every network of params.yaml, so colours agree across figures


def colour(network: str) -> str:
    return _color(network, NETWORKS)


def fig_curves(params: cfg.Params, results: Results, names: list[str], path: Path, cols: int = 4,
               orig_curves: dict | None = None) -> str:
    """Train and validation loss per epoch, restored epoch marked, one panel per run; the original's
    read-off points as open markers where `orig_curves` has them."""
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 1.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        h = results.histories[name]
        epoch = h.epoch.tolist()
        ax.plot(epoch, h.train_loss.tolist(), color="#d9a400", label="train")
        ax.plot(epoch, h.val_loss.tolist(), color=RESNET, label="validation")
        for key, color in (("train_loss", "#d9a400"), ("val_loss", RESNET)):
            points = (orig_curves or {}).get(name, {}).get(key, {})
            if points:
                ax.plot([int(e) for e in points], list(points.values()), "o", ms=3.5, mfc="none", color=color,
                        label="original" if key == "val_loss" else None)
        if params.run_config(name).stopping != "none":
            ax.axvline(int(results.runs.restored_epoch[name]), color="red", ls="--", lw=1, label="restored")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel("cross-entropy", fontsize=7)
        ax.tick_params(labelsize=MIN_FONT)
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


ALPHA_TICKS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5)


def _log_alpha_axis(ax) -> None:
    """A log y-axis for alphas with a few round, labelled ticks and a light grid at them."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ALPHA_TICKS))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.tick_params(axis="y", labelsize=MIN_FONT)
    ax.grid(axis="y", lw=0.3, alpha=0.5)


def _seed_group(rows, seeds: list[SeedGroup]) -> SeedGroup | None:
    """The seed group (seed_table) whose first run made these final-weight alphas (one target's rows of the
    alphas table), if it has at least two analysed seeds: the band drawn around them."""
    if rows.weights.iloc[0] != "final":
        return None
    return by_first_run(seeds).get(rows.run.iloc[0])


def _band(group: SeedGroup) -> tuple[np.ndarray, np.ndarray]:
    """A seed group's per-layer alpha mean and sd."""
    return np.array([s.mean for s in group.alpha]), np.array([s.sd for s in group.alpha])


def fig_alpha_dots(results: Results, targets: list[str], path: Path, seeds: list[SeedGroup]) -> str:
    """Per-layer alpha as dots on a line, one panel per smoothness target, one log y-axis for all; where
    the target's run has seed runs, their mean +- 1 sd as a band with error bars (values: the tables)."""
    cols = 2
    rows = math.ceil(len(targets) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 2.6 * rows), squeeze=False, sharey=True)
    for ax, target in zip(axes.flat, targets, strict=False):
        a = results.layers(target)
        x = np.arange(len(a))
        color = colour(results.network(target))
        g = _seed_group(a, seeds)
        if g is not None:
            mean, sd = _band(g)
            ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.2, lw=0,
                            label=f"mean ± 1 sd over {g.n_alpha} seeds")
            ax.errorbar(x, mean, yerr=sd, fmt="none", ecolor=color, elinewidth=0.8, capsize=1.5)
        label = f"{target} (this seed)" if g is not None else target
        ax.plot(x, a.alpha.tolist(), "-o", ms=3.5, lw=1, color=color, label=label)
        ax.set_xticks(x, a.layer.tolist(), rotation=90, fontsize=MIN_FONT)
        _log_alpha_axis(ax)
        ax.set_title(target, fontsize=8)
        ax.legend(fontsize=MIN_FONT, frameon=False, loc="upper left")
    for ax in axes[:, 0]:
        ax.set_ylabel("alpha (log)")
    for ax in list(axes.flat)[len(targets):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _layer_ticks(ax, layers: list[str]) -> None:
    ax.set_xticks(range(len(layers)), layers, rotation=90, fontsize=MIN_FONT)


def fig_overlay(results: Results, pairs: list[tuple[str, str]], path: Path,
                seeds: list[SeedGroup] | None = None) -> str:
    """Two targets' per-layer alphas as lines on a shared layer axis (names without their suffixes), one
    panel per pair, one log y-axis; seed mean +- 1 sd bands where a target's run has seed runs."""
    fig, axes = plt.subplots(1, len(pairs), figsize=(7.2, 2.8), squeeze=False, sharey=True)
    for ax, (a, b) in zip(axes.flat, pairs, strict=False):
        same = results.network(a) == results.network(b)
        for target, style, marker in ((a, "-", "o"), (b, "--" if same else "-", "s")):
            rows = results.layers(target)
            x = np.arange(len(rows))
            line, = ax.plot(x, rows.alpha.tolist(), ls=style, marker=marker, ms=3,
                            color=colour(results.network(target)), mfc="none" if target == b and same else None,
                            label=target)
            g = _seed_group(rows, seeds or [])
            if g is not None and len(g.alpha) == len(rows):
                mean, sd = _band(g)
                ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0,
                                label=f"{target}: seed mean ± 1 sd")
        longer = max((results.layers(a), results.layers(b)), key=len)
        ax.set_xticks(range(len(longer)), [short_layer(layer) for layer in longer.layer], rotation=90,
                      fontsize=MIN_FONT)
        _log_alpha_axis(ax)
        ax.legend(fontsize=MIN_FONT, frameon=False, loc="upper left")
    axes.flat[0].set_ylabel("alpha (log)")
    fig.tight_layout()
    return _save(fig, path)


def fig_mislabel(results: Results, orig: dict, params: cfg.Params, path: Path) -> str:
    """Alpha of the last layer against the fraction of shuffled labels, original beside reproduced."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.8))
    rates = list(params.mislabel.rates)
    ax.plot(orig["mislabel"]["rates"], orig["mislabel"]["alpha"], "k--o", ms=7, mfc="none", zorder=3,
            label=f"original (its code's estimator, {orig['mislabel']['preset']})")
    for preset, color in zip(params.mislabel.presets, (RESNET, PLAIN, "#4b8b3b"), strict=False):
        first_run, *others = results.mislabel_runs(preset).values()
        mean = [r["alpha_mean"] for r in first_run]
        lo = [r["alpha_min"] for r in first_run]
        hi = [r["alpha_max"] for r in first_run]
        ax.plot(rates, mean, "-o", ms=4, color=color, label=f"reproduced, {preset}")
        ax.fill_between(rates, lo, hi, color=color, alpha=0.2, lw=0)
        for k, other in enumerate(others):  # the other training seeds: thin lines of their means
            ax.plot(rates, [r["alpha_mean"] for r in other], "-", lw=0.6, color=color, alpha=0.6,
                    label=f"other training seeds ({len(others)})" if k == 0 else None)
    ax.set_yscale("log")  # the alphas span more than a decade
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("fraction of labels shuffled")
    ax.set_ylabel("alpha of fc1 (log)")
    ax.legend(fontsize=MIN_FONT, frameon=False, loc="lower left")
    first = params.mislabel.presets[0]
    curves = orig.get("fc1_error_curves", {})
    original_mse = {float(rate): values for rate, values in curves.get("mse", {}).items()}
    for k, rate in enumerate(params.mislabel.rates):
        s = results.mislabel_curves[(params.mislabel.run, first, rate)][0]
        line, = ax2.plot(s["m"], s["mse"], label=f"{rate:.0%}")
        points = original_mse.get(float(rate))
        if points:
            ax2.plot(curves["m"], points, "o", ms=4, mfc="none", color=line.get_color(),
                     label="original" if k == 0 else None)
    ax2.set_xlabel("number of wavelets M")
    ax2.set_ylabel("forest MSE (per output)")
    ax2.set_title(f"{first}, first seed; circles: the original's, read off its chart", fontsize=7)
    ax2.legend(fontsize=7, frameon=False, title="shuffled", title_fontsize=7, loc="center left",
               bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _save(fig, path)


def fig_confusions(results: Results, names: list[str], classes: list[str], path: Path) -> str:
    """Column-normalised confusion matrices in percent (diagonal = per-class precision, as originally
    shown), one shared colour bar; no numbers in the cells (they would print under 6 pt)."""
    cols = 5 if len(names) > 6 else 3
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, (1.9 if cols == 5 else 2.45) * rows), squeeze=False)
    image = None
    for k, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        cm = np.asarray(results.metrics[name]["confusion_matrix"], dtype=float)
        col = cm.sum(axis=0, keepdims=True)
        norm = 100 * np.divide(cm, col, out=np.zeros_like(cm), where=col > 0)
        image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=100)
        ax.set_title(name, fontsize=7)
        first_col, bottom = k % cols == 0, k >= len(names) - cols
        ax.set_xticks(range(10), classes if bottom else [], fontsize=MIN_FONT, rotation=90)
        ax.set_yticks(range(10), classes if first_col else [], fontsize=MIN_FONT)
        if bottom:
            ax.set_xlabel("predicted class", fontsize=MIN_FONT)
        if first_col:
            ax.set_ylabel("true class", fontsize=MIN_FONT)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    if image is not None:
        bar = fig.colorbar(image, cax=fig.add_axes((0.93, 0.3, 0.015, 0.4)))
        bar.set_label("% of the predicted column", fontsize=MIN_FONT)
        bar.ax.tick_params(labelsize=MIN_FONT)
    return _save(fig, path)


def fig_seeds(results: Results, panels: dict[str, tuple[str, list[str]]], lead: str, path: Path) -> str:
    """Per-layer alpha of each seed of a group, one panel per group (group -> the preset drawn and the runs with
    every layer under it): the spread a single run hides. Four panels a row; a panel drawn under another preset
    than the lead names it. Rows of 2.2 in: three rows and the caption fit below the half-page figure before it
    (at 2.5 in the figure moved to the next page and left that page 71% empty)."""
    cols = min(4, max(1, len(panels)))
    rows_n = math.ceil(max(1, len(panels)) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(7.2, 2.2 * rows_n), squeeze=False, sharey=True)
    for ax, (group, (preset, runs)) in zip(axes.flat, panels.items(), strict=False):
        for k, run in enumerate(runs):
            rows = results.layers(run, preset)
            seed = run.rsplit("_seed", 1)[1] if "_seed" in run else "first"
            ax.plot(range(len(rows)), rows.alpha.tolist(), ls=STYLES[k % len(STYLES)], marker="o", ms=2, lw=0.9,
                    color=colour(results.network(run)), label=f"seed {seed}" if seed != "first" else "first run")
        longest = max((results.layers(r, preset) for r in runs), key=len)
        ax.set_xticks(range(len(longest)), [short_layer(layer) for layer in longest.layer], rotation=90,
                      fontsize=MIN_FONT)
        ax.set_title(group if preset == lead else f"{group} ({preset})", fontsize=7)
        _log_alpha_axis(ax)
    axes.flat[0].legend(fontsize=MIN_FONT, frameon=False, loc="upper left", handlelength=1.6)  # one line style a seed
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel("alpha (log)")
    fig.tight_layout()
    return _save(fig, path)


def fig_retrain(results: Results, baseline: str, preset: str, path: Path) -> str:
    """Alpha per layer of networks retrained on shuffled labels, beside the clean network (both under `preset`)."""
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    rows = results.layers(baseline, preset) if results.has(baseline, preset) else None
    if rows is not None:
        ax.plot(range(len(rows)), rows.alpha.tolist(), "k-o", ms=3, label=f"{baseline} (clean labels)")
    for rate, r in results.retrain.items():
        ax.plot(range(len(r["layers"])), [x["alpha"] for x in r["layers"]], "-s", ms=3,
                label=f"retrained, {rate:.0%} shuffled")
    _layer_ticks(ax, rows.layer.tolist() if rows is not None else
                 [x["layer"] for x in next(iter(results.retrain.values()))["layers"]])
    ax.set_ylabel("alpha")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def fig_compare(alphas_a: dict[str, list[tuple[str, float]]], alphas_b: dict[str, list[tuple[str, float]]],
                label_a: str, label_b: str, path: Path) -> str:
    """Alpha per layer of each smoothness target at two settings, one panel per target."""
    targets = sorted(set(alphas_a) | set(alphas_b))
    cols = min(3, max(1, len(targets)))
    rows = math.ceil(len(targets) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 2.4 * rows), squeeze=False)
    for ax, target in zip(axes.flat, targets, strict=False):
        layers = [layer for layer, _ in (alphas_a.get(target) or alphas_b[target])]
        for alphas, style, label in ((alphas_a, "-o", label_a), (alphas_b, "--s", label_b)):
            values = dict(alphas.get(target, []))
            if values:
                ax.plot(range(len(layers)), [values.get(layer, np.nan) for layer in layers], style, ms=3, label=label)
        ax.set_xticks(range(len(layers)), layers, rotation=90, fontsize=MIN_FONT)
        ax.set_title(target, fontsize=8)
        ax.set_ylabel("alpha")
    for ax in list(axes.flat)[len(targets):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def fig_fidelity(fidelity: list[dict], path: Path, markers: dict[str, str], cols: int = 3, height: float = 1.95,
                 big: bool = False) -> str:
    """Per layer: the original's interval (grey), this run's seed mean +- 1 sd (band), single runs (dots) and the
    same layers under the other estimator presets (hollow markers: preset -> matplotlib marker); `cols` panels of
    `height` inches a row; `big`: larger type and short layer names."""
    rows = math.ceil(len(fidelity) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, height * rows), squeeze=False)
    for ax, f in zip(axes.flat, fidelity, strict=False):
        x = np.arange(len(f["rows"]))
        low = np.array([r["original"][0] for r in f["rows"]])
        high = np.array([r["original"][1] for r in f["rows"]])
        ax.bar(x, np.maximum(high - low, 0.0004), bottom=low, width=0.7, color="#bbbbbb", label="original (interval)")
        color = colour(f["network"])
        if any(r["sd"] is not None for r in f["rows"]):
            mean = np.array([r["value"] for r in f["rows"]])
            sd = np.array([r["sd"] or 0.0 for r in f["rows"]])
            ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.25, lw=0, label="seed mean ± 1 sd")
            ax.plot(x, mean, "-", color=color, lw=1)
        ax.plot(x, [r["single"] for r in f["rows"]], "o", ms=4 if big else 3, color=color,
                label=f"reproduced ({f['preset']})")
        position = {r["layer"]: i for i, r in enumerate(f["rows"])}
        for preset, other in f.get("presets", {}).items():
            rows = [r for r in other["rows"] if r["layer"] in position]
            ax.plot([position[r["layer"]] for r in rows], [r["single"] for r in rows], markers[preset],
                    ms=5 if big else 3.5,
                    mfc="none", color="black", mew=1.0 if big else 0.8, label=f"reproduced ({preset})")
        _log_alpha_axis(ax)
        if big:
            ax.tick_params(axis="y", labelsize=7.5)
        ax.set_xticks(x, [short_layer(r["layer"]) if big else r["layer"] for r in f["rows"]], rotation=90,
                      fontsize=7.5 if big else 5.5)
        ax.set_title(f["target"], fontsize=9 if big else 8)
    for ax in list(axes.flat)[len(fidelity):]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=False):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4 if big else 3, fontsize=7.5 if big else 7, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    axes.flat[0].set_ylabel("alpha (log)")
    fig.tight_layout(rect=(0, 0.06 if big else 0.04, 1, 1))
    return _save(fig, path)


def fig_diagnostics(results: Results, targets: list[str], path: Path) -> str:
    """The estimator's fits: R^2 of every layer's line (left); the error against the number of wavelets on
    log-log axes for the input layer and the last layer, with the fitted line whose slope is -alpha (right)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.9))
    for target in targets:
        rows = results.layers(target)
        ax.plot(range(len(rows)), rows.r2.tolist(), "-o", ms=3, lw=1, color=colour(results.network(target)),
                label=target)
    longest = max((results.layers(t) for t in targets), key=len)
    ax.set_xticks(range(len(longest)), [short_layer(layer) for layer in longest.layer], rotation=90, fontsize=MIN_FONT)
    ax.set_ylabel("R² of the log-log line")
    ax.legend(fontsize=MIN_FONT, frameon=False)
    curves = []
    if results.main in results.inputs:
        row = results.inputs[results.main]["row"]
        curves.append(("input", row["curve"], row, ORIGINAL))  # the images: no network's colour
    for target in targets:
        last = results.layers(target).iloc[-1]
        curves.append((f"{target} {last['layer']}", results.file(target)["last_layer_curve"], last,
                       colour(results.network(target))))
    for label, curve, row, color in curves:
        x = np.asarray(curve["x"], dtype=float)
        line, = ax2.loglog(x, curve["error"], "o", ms=2, color=color,
                           label=f"{label}: alpha {row['alpha']:.4f}, R² {row['r2']:.2f}")
        ax2.loglog(x, np.exp(row["intercept"]) * x ** (-row["alpha"]), "-", lw=0.9, color=line.get_color())
    ax2.set_xlabel("M + x_offset (number of wavelets)")
    ax2.set_ylabel("error (log)")
    # the errors span less than a decade: a tick at every digit, as plain numbers (matplotlib's default
    # labels such a range with minor ticks written 9x10^-1)
    ax2.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=tuple(range(1, 10))))
    ax2.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.legend(fontsize=MIN_FONT, frameon=False)
    fig.tight_layout()
    return _save(fig, path)
