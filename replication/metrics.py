"""Stage metrics: every result as plain numbers, and the original's claims as verdicts (DVC metrics).

What `dvc metrics show`, `dvc metrics diff` and `dvc exp show` compare: test accuracies and epochs of
every run, alpha and R^2 of every layer of every smoothness target under every estimator preset, the
mislabel study's means and spreads, and each claim's verdict under each preset (1 holds, 0.5 within noise,
0.25 inconclusive, 0 does not hold) with its key number.
No wall times, devices or versions (those are in each stage's own outputs), so the same results
always give the same metrics and `dvc metrics diff` is empty unless a result moved.

    python -m replication.metrics     # writes results/metrics/{train,smoothness,mislabel,claims}.json
"""

from __future__ import annotations

from replication import claims, layout
from replication import config as cfg
from replication.errors import run_main
from replication.files import write_json
from replication.originals import originals
from replication.results import Results, gather

VERDICT_CODE = {claims.HOLDS: 1.0, claims.WITHIN_NOISE: 0.5, claims.INCONCLUSIVE: 0.25, claims.FAILS: 0.0}

def train_numbers(results: Results) -> dict:
    columns = ["test_accuracy", "macro_precision", "macro_recall", "restored_epoch", "epochs_run", "snapshot_accuracy"]
    return results.runs[columns].to_dict("index")


def smoothness_numbers(results: Results) -> dict:
    out: dict = {}
    for (preset, target), rows in results.alphas.groupby(["preset", "target"], sort=False):
        out.setdefault(preset, {})[target] = {"alpha": dict(zip(rows.layer, rows.alpha.tolist(), strict=True)),
                                              "r2": dict(zip(rows.layer, rows.r2.tolist(), strict=True)),
                                              "last_layer_alpha": rows.alpha.iloc[-1].item()}
    return out


def mislabel_numbers(results: Results, params: cfg.Params) -> dict:
    """The study's mean and shuffle sd per preset and rate for the first of mislabel.runs; the other runs'
    means under seed_runs."""
    out: dict = {}
    for r in results.mislabel.to_dict("records"):
        rate = str(r["rate"])
        if r["run"] == params.mislabel.run:
            out.setdefault(r["preset"], {})[rate] = {"mean": r["alpha_mean"], "sd": r["alpha_std"]}
        else:
            out.setdefault("seed_runs", {}).setdefault(r["run"], {}).setdefault(r["preset"], {})[rate] = r["alpha_mean"]
    return out


def claim_numbers(by_preset: dict[str, list[dict]]) -> dict:
    return {preset: {c["id"]: {"verdict": VERDICT_CODE[c["verdict"]], "z": c.get("z"),
                               "value": float(claims.CLAIMS[c["id"]].key(c))}
                     for c in found}
            for preset, found in by_preset.items()}


def main() -> int:
    params = cfg.load()
    results = gather(params, histories=False, retrain=False)
    orig = originals()
    by_preset = claims.verdicts_by_preset(params, results, orig)
    numbers = {"train": train_numbers(results), "smoothness": smoothness_numbers(results),
               "mislabel": mislabel_numbers(results, params), "claims": claim_numbers(by_preset)}
    for name in layout.METRIC_FILES:
        write_json(layout.METRICS / f"{name}.json", numbers[name])
    for row in claims.verdict_matrix(params, by_preset):
        cells = ", ".join(f"{preset} {verdict or '-'}" for preset, verdict in row["cells"].items())
        print(f"{row['id']}: {cells}{' (changes)' if row['changes'] else ''}")
    return 0


if __name__ == "__main__":
    run_main(main)
