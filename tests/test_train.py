"""Training: the original early-stopping rule, determinism, resume, divergence."""

from __future__ import annotations

import pytest
import torch
from synthetic import make_splits

from replication.core import runtime
from replication.core.errors import UserError
from replication.networks import dataset, stopping, training, weights
from replication.report import settings as cfg
from replication.tools import data as cifar

# ---------------------------------------------------------------- early stopping, as coded


def run_rule(rule, val, train_losses):
    """Feed epochs until the rule stops; returns (saved epochs, stopping epoch)."""
    saved = []
    for epoch, (v, t) in enumerate(zip(val, train_losses, strict=False), start=1):
        decision = rule.step(v, t)
        if decision.save:
            saved.append(epoch)
        if decision.stop:
            return saved, epoch
    return saved, None


def test_as_coded_gate_opens_at_epoch_6_with_falling_train_loss():
    falling = [2.0 - 0.05 * i for i in range(30)]
    val = [1.0 - 0.01 * i for i in range(10)] + [2.0] * 20  # best at epoch 10
    saved, stop = run_rule(stopping.AsCoded(patience=5, gate_patience=5), val, falling)
    assert saved[0] == 6  # epochs 1-5 are never checkpointed, even though they improve
    assert saved[-1] == 10 and stop == 15  # stops 5 epochs after the last improvement


def test_as_coded_gate_resets_when_train_loss_rises():
    train_losses = [5, 4, 3, 3.5, 3, 2, 1, 0.5, 0.4, 0.3, 0.2]  # rise at epoch 4 resets the count
    saved, _ = run_rule(stopping.AsCoded(5, 5), [1.0] * 11, train_losses)
    assert saved[0] == 9  # decreases at epochs 5..9 -> gate opens at epoch 9


def test_as_coded_ties_count_as_improvement():
    saved, stop = run_rule(stopping.AsCoded(2, 0), [1.0, 1.0, 1.1, 1.0, 1.2, 1.3], [1] * 6)
    assert saved == [1, 2, 4] and stop == 6


def test_patience_rule_has_no_gate():
    saved, stop = run_rule(stopping.Patience(patience=2), [1.0, 0.9, 1.0, 1.1, 0.5], [1] * 5)
    assert saved == [1, 2] and stop == 4


def test_state_round_trip():
    rule = stopping.AsCoded(5, 5)
    for v in (3.0, 2.0, 1.0):
        rule.step(v, v)
    again = stopping.make("as_coded", 5, 5, rule.state())
    assert again == rule


# ---------------------------------------------------------------- the training loop


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A learnable tiny dataset and params that train a small net for a few epochs."""
    import yaml
    from conftest import ROOT

    root = tmp_path_factory.mktemp("tiny") / "data"
    cifar.write_canonical(cifar.canonicalize(make_splits(200, 50, separable=True), "synthetic", full=False), root)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["base"]["threads"] = 1
    raw["data"].update(root=str(root), val_size=50)
    raw["train"].update(batch_size=25, snapshot_epoch=2, eval_batch_size=100)
    raw["runs"] = {
        "tiny": {"network": "plain6", "seed": 7, "stopping": "patience", "max_epochs": 4},
        "long": {"network": "plain6", "seed": 7, "stopping": "none", "max_epochs": 6},
    }
    raw["smoothness"]["targets"] = {"tiny": {"run": "tiny", "weights": "final"},
                                    "long": {"run": "long", "weights": "final"}}
    raw["smoothness"]["presets"]["as_run"]["layers"] = "last"
    raw["mislabel"].update(runs=["tiny"])
    raw["overfit"].update(run="long", baseline="tiny")
    raw["claims"].update(converge=["tiny", "long"], pruned=[])
    raw["report"].update(main_targets=[], overlays={})
    raw["suggest"]["derived"] = {}
    params = cfg.parse(raw)
    runtime.setup(params.base)
    return params, dataset.load_dataset(params.data)


def test_same_seed_same_result(tiny):
    params, ds = tiny
    a = training.fit("tiny", params, ds, torch.device("cpu"), progress=False)
    b = training.fit("tiny", params, ds, torch.device("cpu"), progress=False)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in a.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in b.history]
    for key in a.weights:
        assert torch.equal(a.weights[key], b.weights[key])
    assert a.snapshot is not None


def test_training_learns(tiny):
    params, ds = tiny
    result = training.fit("tiny", params, ds, torch.device("cpu"), progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_no_stopping_runs_every_epoch_and_keeps_the_last(tiny):
    params, ds = tiny
    result = training.fit("long", params, ds, torch.device("cpu"), progress=False)
    assert result.epochs_run == 6 and result.restored_epoch == 6


@pytest.mark.slow
def test_resume_after_interruption_gives_identical_weights(tiny, tmp_path, monkeypatch):
    params, ds = tiny
    full = training.fit("long", params, ds, torch.device("cpu"), progress=False)
    resume = tmp_path / "resume.pt"
    calls = {"n": 0}
    original = stopping.NoStop.step

    def interrupt(self, val_loss, train_loss):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, val_loss, train_loss)

    monkeypatch.setattr(stopping.NoStop, "step", interrupt)
    with pytest.raises(KeyboardInterrupt):
        training.fit("long", params, ds, torch.device("cpu"), resume_path=resume, progress=False)
    monkeypatch.setattr(stopping.NoStop, "step", original)
    assert torch.load(resume, weights_only=True)["epoch"] == 3
    resumed = training.fit("long", params, ds, torch.device("cpu"), resume_path=resume, progress=False)
    assert [h["epoch"] for h in resumed.history] == list(range(1, 7))
    for key in full.weights:
        assert torch.equal(full.weights[key], resumed.weights[key])


def test_nan_loss_names_the_epoch(tiny, tmp_path, monkeypatch):
    params, ds = tiny
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda logits, y, **kw: real(logits, y, **kw) * float("nan"))
    with pytest.raises(training.TrainingDiverged, match="at epoch 1; stopped. Nothing was kept") as err:
        training.fit("tiny", params, ds, torch.device("cpu"), resume_path=tmp_path / "r.pt", progress=False)
    assert "epoch 0" not in str(err.value)  # no claim about a state file that was never written


def test_nan_validation_loss_is_never_an_improvement():
    rule = stopping.make("as_coded", patience=2, gate_patience=0)
    assert rule.step(1.0, 1.0).save
    assert not rule.step(float("nan"), 0.9).save
    assert rule.step(float("nan"), 0.8).stop  # two epochs without improvement
    first = stopping.make("patience", patience=1, gate_patience=0)
    assert not first.step(float("nan"), 1.0).save and first.best is None


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a torch file"])
def test_broken_resume_file_is_named(tiny, tmp_path, content):
    params, ds = tiny
    resume = tmp_path / "broken.pt"
    resume.write_bytes(content)
    with pytest.raises(UserError, match=r"broken.pt: unreadable .*delete it and rerun"):
        training.fit("tiny", params, ds, torch.device("cpu"), resume_path=resume, progress=False)


def test_snapshot_epoch_beyond_max_epochs(raw):
    raw["train"]["snapshot_epoch"] = 101
    with pytest.raises(cfg.ConfigError, match=r"train.snapshot_epoch \(101\) is beyond runs.resnet12.max_epochs"):
        cfg.parse(raw)


def test_metrics_shape(tiny):
    params, ds = tiny
    result = training.fit("tiny", params, ds, torch.device("cpu"), progress=False)
    from replication.networks import nets

    model = nets.build("plain6", params.network_config("plain6"))
    model.load_state_dict(result.weights)
    m = training.test_metrics(model, ds, 100)
    assert 0 <= m["test_accuracy"] <= 1
    assert sum(map(sum, m["confusion_matrix"])) == 50


def test_saved_weights_are_byte_stable(tmp_path):
    state = {"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(2)}
    weights.save(tmp_path / "a.pt", state)
    weights.save(tmp_path / "sub" / "b.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "b.pt").read_bytes()
    loaded = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"])
