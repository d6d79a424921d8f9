"""Command line: `python -m replication describe [--json] [NETWORK ...]`."""

from __future__ import annotations

import argparse
import sys

from replication import config as cfg
from replication.io import dumps_json
from replication.nets import SpecError, describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="layers, shapes, probes and parameter counts per network")
    d.add_argument("networks", nargs="*", help="network names (default: all in params.yaml)")
    d.add_argument("--json", action="store_true", help="print JSON: network name -> description")
    d.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    args = parser.parse_args(argv)

    try:
        params = cfg.load(args.params)
        names = args.networks or list(params.networks)
        out = {name: describe(name, params.network(name)) for name in names}
    except (cfg.ConfigError, SpecError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(dumps_json(out))
        return 0
    for name, info in out.items():
        print(f"{name} ({info['title']}): {info['params']:,} parameters, {info['activation']}, lr {info['lr']:g}")
        for layer in info["layers"]:
            shape = "x".join(map(str, layer["out_shape"]))
            probes = ", ".join(f"{p['name']} ({p['dim']})" for p in layer["probes"])
            print(f"  {layer['spec']:<34} -> {shape:<9} {layer['params']:>7,} params   {probes}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
