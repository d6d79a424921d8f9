"""Stage architectures: every network's layers, output shapes, probe points and parameter counts, and
CIFAR-10's class names, as data for the report (which so imports no torch).

    python -m replication.architectures   # writes results/architectures.json
"""

from __future__ import annotations

from replication import config as cfg
from replication import layout
from replication.dataset import CLASSES
from replication.errors import run_main
from replication.files import write_json
from replication.nets import describe


def main() -> int:
    params = cfg.load()
    write_json(layout.ARCHITECTURES, {
        "classes": list(CLASSES),
        "networks": {name: describe(name, params.network_config(name)) for name in params.networks},
    })
    print(f"{layout.ARCHITECTURES}: {len(params.networks)} networks")
    return 0


if __name__ == "__main__":
    run_main(main)
