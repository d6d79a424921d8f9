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
from replication.results import gather

VERDICT_CODE = {claims.HOLDS: 1.0, claims.WITHIN_NOISE: 0.5, claims.INCONCLUSIVE: 0.25, claims.FAILS: 0.0}

def train_numbers(results: dict) -> dict:
    keys = ("test_accuracy", "macro_precision", "macro_recall", "restored_epoch", "epochs_run")
    return {run: {**{k: r["metrics"][k] for k in keys},
                  "snapshot_accuracy": r["metrics"]["snapshot"]["test_accuracy"]}
            for run, r in results["runs"].items()}


def smoothness_numbers(results: dict) -> dict:
    return {preset: {target: {"alpha": {row["layer"]: row["alpha"] for row in a["layers"]},
                              "r2": {row["layer"]: row["r2"] for row in a["layers"]},
                              "last_layer_alpha": a["layers"][-1]["alpha"]}
                     for target, a in alphas.items()}
            for preset, alphas in results["alphas_by_preset"].items()}


def mislabel_numbers(results: dict) -> dict:
    out = {preset: {str(r["rate"]): {"mean": r["alpha_mean"], "sd": r["alpha_std"]} for r in rows}
           for preset, rows in results["mislabel"].items()}
    for run, by_preset in results.get("mislabel_seeds", {}).items():
        for preset, rows in by_preset.items():
            means = {str(r["rate"]): r["alpha_mean"] for r in rows}
            out.setdefault("seed_runs", {}).setdefault(run, {})[preset] = means
    return out


def claim_numbers(by_preset: dict[str, list[dict]]) -> dict:
    return {preset: {c["id"]: {"verdict": VERDICT_CODE[c["verdict"]], "value": float(claims.CLAIMS[c["id"]].key(c))}
                     for c in found}
            for preset, found in by_preset.items()}


def main() -> int:
    params = cfg.load()
    results = gather(params, histories=False, retrain=False)
    orig = originals()
    by_preset = claims.verdicts_by_preset(params, results, orig)
    numbers = {"train": train_numbers(results), "smoothness": smoothness_numbers(results),
               "mislabel": mislabel_numbers(results), "claims": claim_numbers(by_preset)}
    for name in layout.METRIC_FILES:
        write_json(layout.METRICS / f"{name}.json", numbers[name])
    for row in claims.verdict_matrix(params, by_preset):
        cells = ", ".join(f"{preset} {verdict or '-'}" for preset, verdict in row["cells"].items())
        print(f"{row['id']}: {cells}{' (changes)' if row['changes'] else ''}")
    return 0


if __name__ == "__main__":
    run_main(main)
