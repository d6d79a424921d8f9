"""The networks as data: golden parameter counts, probes, residual semantics, spec errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from replication.networks import nets
from replication.networks.settings import NetworkConfig
from replication.report import settings as cfg

GOLDEN = {  # original_setup.md section 2
    "resnet12": 20810, "plain12": 20810, "resnet12_tanh": 20810, "plain12_tanh": 22154,
    "resnet10": 20522, "resnet10_noavgpool": 51242, "plain6": 13610, "plain6_noavgpool": 44330,
    "resnet9_tanh": 13898, "plain9_tanh": 15242,
}  # fmt: skip

RESNET12_PROBES = [
    "conv1_relu", "conv2_relu", "conv3+identity_relu", "conv4_relu", "conv5+identity_relu",
    "conv6_relu", "conv7+identity_relu", "conv8_relu", "conv9+identity_relu", "conv10_relu",
    "conv11+identity_relu", "avpool", "fc1",
]  # fmt: skip


@pytest.fixture(scope="module")
def params():
    return cfg.load()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_parameter_counts(params, name):
    assert nets.count_params(nets.build(name, params.network_config(name))) == GOLDEN[name]


def test_resnet12_probes_and_shapes(params):
    net = nets.build("resnet12", params.network_config("resnet12"), seed=0)
    assert [p for p, _ in net.probes] == RESNET12_PROBES
    out = net.probe(torch.randn(3, 3, 32, 32), RESNET12_PROBES)
    dims = [out[p].shape[1] for p in RESNET12_PROBES]
    assert dims == [1024] * 3 + [2048] * 4 + [4096] * 4 + [1024, 10]
    assert all(out[p].shape[0] == 3 for p in RESNET12_PROBES)


def test_probe_names_of_other_networks(params):
    tanh = nets.build("plain12_tanh", params.network_config("plain12_tanh"))
    assert [p for p, _ in tanh.probes][:2] == ["conv1_tanh", "conv2_tanh"]
    plain6 = nets.build("plain6", params.network_config("plain6"))
    assert [p for p, _ in plain6.probes] == [
        "conv1_relu", "conv2_relu", "conv3_relu", "conv4_relu", "conv11_relu", "avpool", "fc1"]
    resnet10 = nets.build("resnet10", params.network_config("resnet10"))
    assert "conv6_relu" not in [p for p, _ in resnet10.probes]


def test_residual_semantics_match_the_original_wiring(params):
    """Recompute ResNet12's forward by hand: the shortcut carries the pre-activation sum."""
    net = nets.build("resnet12", params.network_config("resnet12"), seed=3)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    fc = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][0]
    x = torch.randn(2, 3, 32, 32)
    s = convs[0](x)
    for a, b in zip(convs[1::2], convs[2::2], strict=False):
        branch = b(torch.relu(a(torch.relu(s))))
        pad = torch.zeros(s.shape[0], branch.shape[1] - s.shape[1], *s.shape[2:])
        s = branch + torch.cat([s, pad], dim=1)  # identity channels first, zeros appended
    logits = fc(torch.nn.functional.avg_pool2d(torch.relu(s), 2).flatten(1))
    torch.testing.assert_close(net(x), logits, rtol=0, atol=1e-6)


def test_plain_and_resnet_differ_only_in_shortcut(params):
    res = nets.build("resnet12", params.network_config("resnet12"), seed=1)
    plain = nets.build("plain12", params.network_config("plain12"), seed=1)
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(res(x), plain(x))


def test_no_bias_in_convs_and_stem_geometry(params):
    net = nets.build("resnet12", params.network_config("resnet12"))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert (convs[0].kernel_size, convs[0].stride, convs[0].padding) == ((4, 4), (2, 2), (1, 1))


def _net(layers, activation="relu"):
    return NetworkConfig(activation=activation, lr=1e-3, layers=tuple(layers))


@pytest.mark.parametrize(
    "layers, message",
    [
        (["stem conv1:4", "dense conv2:4", "avgpool", "linear fc1:10"],
         r"layer 2 \('dense conv2:4'\): unknown layer kind 'dense'"),
        (["stem conv1:8", "residual conv2:4 conv3:4", "avgpool", "linear fc1:10"], r"layer 2 .*channel mismatch"),
        (["stem conv1:4", "plain conv2:x", "linear fc1:10"], r"layer 2 .*'conv2:x' is not NAME:WIDTH"),
        (["stem conv1:4", "avgpool", "linear fc1:7"], r"layer 3 .*CIFAR-10 has 10 classes"),
        (["stem conv1:4", "avgpool"], "last layer must be"),
        (["plain conv1:4", "stem conv2:4", "linear fc1:10"], r"layer 2 .*stem must be the first layer"),
        (["stem conv1:4", "plain conv1:4", "linear fc1:10"], "probe names repeat"),
    ],
)
def test_spec_errors_name_network_and_layer(layers, message):
    with pytest.raises(nets.SpecError, match=r"network broken.*" + message if "layer" in message else message):
        nets.build("broken", _net(layers))


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_describe_cli_json():
    out = subprocess.run(
        [sys.executable, "-m", "replication", "describe", "--json"], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    assert {k: v["params"] for k, v in info.items()} == GOLDEN
    assert info["resnet12"]["probes"] == RESNET12_PROBES


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_describe_cli_unknown_network():
    out = subprocess.run([sys.executable, "-m", "replication", "describe", "resnet99"], capture_output=True, text=True)
    assert out.returncode == 1 and "unknown name 'resnet99' in networks" in out.stderr


def test_status_table_lists_every_run(tmp_path):
    from replication.__main__ import status
    from replication.report import settings as cfg

    params = cfg.load()
    out = tmp_path / "results" / "train" / "resnet12"
    out.mkdir(parents=True)
    (out / "metrics.json").write_text('{"test_accuracy": 0.6, "restored_epoch": 3, "epochs_run": 8}')
    (tmp_path / "timings" / "train").mkdir(parents=True)
    (tmp_path / "timings" / "train" / "resnet12.json").write_text('{"seconds": 120}')
    table = status(params, tmp_path).splitlines()
    assert len(table) == 2 + len(params.runs) + 1 + 2 + len(params.smoothness.ordered)
    assert "| resnet12 | 65.63% | 60.00% | 3 / 8 (30 / 35) | not run yet | 2.0 |" in table
    assert "| plain12 | 57.40% | not run yet | | | |" in table
    other = tmp_path / "results" / "train" / "plain9_tanh"
    other.mkdir()
    (other / "metrics.json").write_text('{"test_accuracy": 0.5, "restored_epoch": 3, "epochs_run": 8}')
    (tmp_path / "timings" / "train" / "plain9_tanh.json").write_text('{"seconds": 60}')
    raw = params.model_dump(mode="json")
    del raw["smoothness"]["targets"]["plain9_tanh"]  # trained, but not a smoothness target
    row = "| plain9_tanh | 52.44% | 50.00% | 3 / 8 (50 / 55) | - | 1.0 |"
    assert row in status(cfg.parse(raw), tmp_path).splitlines()


def test_status_names_the_smoothness_stages_still_to_come_and_their_saved_layers(tmp_path):
    from replication.__main__ import smoothness_status
    from replication.core import registry as layout
    from replication.report import settings as cfg

    params = cfg.load()
    sm = params.smoothness
    done = tmp_path / layout.alphas_json("as_run", "resnet12")
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    saved = tmp_path / layout.resume_file("smoothness", "as_run-plain12", ".json")
    saved.parent.mkdir(parents=True)
    saved.write_text('{"key": "k", "rows": [{"layer": "conv1_relu"}, {"layer": "conv2_relu"}]}')
    rows = {line.split(" | ")[0].strip("| "): line for line in smoothness_status(params, tmp_path).splitlines()[2:]}
    assert tuple(rows) == sm.ordered
    n = len(sm.every_layer("as_run"))
    assert rows["as_run"].startswith(f"| as_run | 1 of {n} | smoothness@as_run-plain12 (2), ")
    assert "smoothness@as_run-resnet12," not in rows["as_run"]
    assert rows["as_reported"].startswith(f"| as_reported | 0 of {len(sm.targets)} | smoothness@as_reported-resnet12, ")
