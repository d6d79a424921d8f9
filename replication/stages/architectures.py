"""Stage architectures: every network's layers, output shapes, probe points and parameter counts, and
CIFAR-10's class names, as data for the report (which so imports no torch).

    python -m replication.stages.architectures   # writes results/architectures.json
"""

from __future__ import annotations

from replication.core import registry as layout
from replication.core.errors import run_main
from replication.core.files import write_json
from replication.networks import settings as cfg
from replication.networks.dataset import CLASSES
from replication.networks.nets import describe


def main() -> int:
    params = cfg.load()
    write_json(layout.ARCHITECTURES_FILE, {
        "classes": list(CLASSES),
        "networks": {name: describe(name, params.network_config(name)) for name in params.networks},
    })
    print(f"{layout.ARCHITECTURES_FILE}: {len(params.networks)} networks")
    return 0


if __name__ == "__main__":
    run_main(main)
