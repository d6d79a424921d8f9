"""Command line.

    python -m replication describe [--json] [NETWORK ...]   # layers, shapes, probes, parameter counts
    python -m replication status                            # what has run so far, original beside reproduced
    python -m replication compare REV_A REV_B [--figure F]  # params that differ, metrics and verdicts that moved
    python -m replication metrics                           # verdicts, accuracies and fc1 alphas, 120 columns
    python -m replication whatif -S KEY=VALUE               # the stages a setting would rerun, and their hours
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from replication.analysis.originals import originals
from replication.core import registry as layout
from replication.core.errors import UserError
from replication.core.files import dumps_json, read_json
from replication.report import settings as cfg


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m replication")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="layers, shapes, probes and parameter counts per network")
    d.add_argument("networks", nargs="*", help="network names (default: all in params.yaml)")
    d.add_argument("--json", action="store_true", help="print JSON: network name -> description")
    d.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    st = sub.add_parser("status", help="markdown table of the results that exist, beside the original's")
    st.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    cp = sub.add_parser("compare", help="params that differ and metrics that moved between two revisions")
    cp.add_argument("rev_a", help="git revision, DVC experiment name, or 'workspace'")
    cp.add_argument("rev_b", help="git revision, DVC experiment name, or 'workspace'")
    cp.add_argument("--figure", type=Path, help="also draw alpha per layer of both into this SVG")
    cp.add_argument("--tolerance", type=_tolerance, default=0.0, help="ignore metric changes smaller than this")
    mt = sub.add_parser("metrics", help="verdicts per preset, accuracies and fc1 alphas, under 120 columns")
    mt.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    wi = sub.add_parser("whatif", help="the stages a setting would rerun, without running them or changing a file")
    wi.add_argument("-S", "--set-param", dest="overrides", action="append", required=True, metavar="KEY=VALUE",
                    help="a setting in the syntax of `dvc exp run -S` (repeat for several)")
    return parser


def _tolerance(text: str) -> float:
    """A finite number >= 0 (argparse names the option and the value when this raises)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"describe": _describe, "status": _status, "compare": _compare, "whatif": _whatif,
               "metrics": _metrics}[args.command]
    try:
        print(command(args), end="")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _metrics(args: argparse.Namespace) -> str:
    from replication.tools.short import summary

    return summary(cfg.load(args.params)) + "\n"


def _whatif(args: argparse.Namespace) -> str:
    from replication.tools.whatif import report

    return report(args.overrides) + "\n"


def _compare(args: argparse.Namespace) -> str:
    from replication.tools.compare import compare

    return compare(args.rev_a, args.rev_b, args.figure, args.tolerance) + "\n"


def _status(args: argparse.Namespace) -> str:
    return status(cfg.load(args.params)) + "\n"


MAX_DESCRIBE_PARAMS = 50_000_000  # 200 MB of float32 weights; the study's largest network has about 21,000


def _describe(args: argparse.Namespace) -> str:
    import torch  # only for this command

    from replication.networks.nets import build, count_params, describe

    params = cfg.load(args.params)
    names = args.networks or list(params.networks)
    for name in names:  # counted on the meta device (no memory) before anything is built for real
        with torch.device("meta"):
            n = count_params(build(name, params.network_config(name), seed=0))
        if n > MAX_DESCRIBE_PARAMS:
            raise UserError(f"{args.params}: network {name!r} would have {n:,} parameters, more than the "
                            f"{MAX_DESCRIBE_PARAMS:,} describe builds; check its widths in `networks`")
    out = {name: {"title": params.network_title(name), **describe(name, params.network_config(name))}
           for name in names}
    if args.json:
        return dumps_json(out)
    lines = []
    for name, info in out.items():
        lines.append(f"{name} ({info['title']}): {info['params']:,} parameters, {info['activation']}, "
                     f"lr {info['lr']:g}")
        for layer in info["layers"]:
            shape = "x".join(map(str, layer["out_shape"]))
            probes = ", ".join(f"{p['name']} ({p['dim']})" for p in layer["probes"])
            lines.append(f"  {layer['spec']:<34} -> {shape:<9} {layer['params']:>7,} params   {probes}")
        lines.append("")
    return "\n".join(lines) + "\n"


def status(params: cfg.Params, root: Path = Path(".")) -> str:
    """One markdown row per run: original and reproduced accuracy, epochs, fc1 alpha, minutes; then one row per
    estimator preset: how many of its networks are done, and the stages still to come."""
    return runs_status(params, root) + "\n\n" + smoothness_status(params, root)


def smoothness_status(params: cfg.Params, root: Path = Path(".")) -> str:
    """Per estimator preset, the networks with alphas and the stages still to run, each with the layers its
    resume file has saved (an interrupted stage continues from them)."""
    from replication.analysis.results import not_computed  # pandas: only for this command

    sm = params.smoothness
    lines = ["| estimator preset | networks done | still to come (layers saved so far) |", "| --- | --- | --- |"]
    for preset in sm.ordered:
        targets = sm.every_layer(preset)
        todo = not_computed(params, preset, root)
        waiting = []
        for t in todo:
            # the stage's own resume file (smoothness.run_target names it PRESET-TARGET)
            saved = root / layout.resume_file("smoothness", f"{preset}-{t}", ".json")
            rows = len(read_json(saved)["rows"]) if saved.exists() else 0
            waiting.append(layout.SMOOTHNESS.stage(preset, t) + (f" ({rows})" if rows else ""))
        lines.append(f"| {preset} | {len(targets) - len(todo)} of {len(targets)} | {', '.join(waiting) or '-'} |")
    return "\n".join(lines)


def runs_status(params: cfg.Params, root: Path = Path(".")) -> str:
    """One markdown row per run: original and reproduced accuracy, epochs, fc1 alpha, minutes."""
    orig = originals()["runs"]
    lines = ["| run | original accuracy | reproduced | restored / run epochs (original) | fc1 alpha | minutes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in params.runs:
        path = root / layout.train_metrics(name)
        if not path.exists():
            lines.append(f"| {name} | {_pct(orig.get(name, {}).get('test_accuracy'))} | not run yet | | | |")
            continue
        m = read_json(path)
        o = orig.get(name)
        epochs = f"{m['restored_epoch']} / {m['epochs_run']}"
        if o:
            epochs += f" ({o['restored_epoch']} / {o['epochs_run']})"
        alpha = root / layout.alphas_json(params.smoothness.lead, name)
        if name not in params.smoothness.targets:
            fc1 = "-"  # not a smoothness target
        elif alpha.exists():
            fc1 = f"{read_json(alpha)['layers'][-1]['alpha']:.4f}"
        else:
            fc1 = "not run yet"
        timing = root / layout.train_timing(name)
        minutes = f"{read_json(timing)['seconds'] / 60:.1f}" if timing.exists() else "-"
        lines.append(f"| {name} | {_pct(o['test_accuracy'] if o else None)} | {_pct(m['test_accuracy'])} | {epochs} "
                     f"| {fc1} | {minutes} |")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{100 * x:.2f}%"


if __name__ == "__main__":
    sys.exit(main())
