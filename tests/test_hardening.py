"""Input an attacker or a clumsy user would give: names that are paths, inputs that hang or explode,
folders the tool did not make, links where files should be. Each ends in a one-line error (or a correct
result) within seconds, with nothing outside the project written and nothing inside it lost."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from synthetic import make_splits, write_batches_folder, write_png_tree

from replication.core import files
from replication.core import registry as layout
from replication.core.errors import UserError
from replication.estimator import wavelets
from replication.estimator.settings import EstimatorError, estimator
from replication.networks import nets, weights
from replication.report import settings as cfg
from replication.tools import data as cifar
from replication.tools import sources

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def within(seconds: int):
    """Fail (instead of hanging the suite) when the block takes longer than `seconds`."""
    def expire(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def splits():
    return make_splits(n_train=20, n_test=10)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- 1. fetch --root


def test_fetch_refuses_a_root_it_did_not_make(tmp_path, splits):
    source = write_batches_folder(splits, tmp_path / "src")
    results = tmp_path / "results"
    (results / "train").mkdir(parents=True)
    (results / "train" / "metrics.json").write_text("{}")
    readme = tmp_path / "README.md"
    readme.write_text("# hello\n")
    before = tree(tmp_path / "results"), readme.read_text()
    for root, message in ((results, "holds 'train', which no data folder holds"), (readme, "is not a folder")):
        with pytest.raises(cifar.DataError, match=message) as err:
            cifar.fetch(source, root, full=False)
        one_line(err)
    assert (tree(tmp_path / "results"), readme.read_text()) == before
    assert not list(tmp_path.glob(".README.md*")) and not list(tmp_path.glob(".results.*"))


def test_fetch_takes_an_absent_an_empty_or_a_data_folder(tmp_path, splits):
    source = write_batches_folder(splits, tmp_path / "src")
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "absent", tmp_path / "empty", tmp_path / "absent"):  # the last: a data folder now
        cifar.fetch(source, root, full=False)
        assert {p.name for p in root.iterdir()} == cifar.CANONICAL_NAMES


def test_a_second_fetch_leaves_a_live_fetch_alone(tmp_path, splits):
    """A fetch holding the lock is alive: its staging folder is not a leftover, and the second one stops."""
    source = write_batches_folder(splits, tmp_path / "src")
    root = tmp_path / "data"
    live = tmp_path / ".data.k2j3h4"
    live.mkdir()
    with files.exclusive(cifar.lock_of(root), "a fetch into data/"):
        with pytest.raises(cifar.DataError, match="already running") as err:
            cifar.fetch(source, root, full=False)
        one_line(err)
    assert live.is_dir() and not root.exists()


# --------------------------------------------------------------------------- 2. names never paths


@pytest.mark.parametrize("name", ["../../../x", "/tmp/abs", "a/b", "..", ".hidden", "Upper", "", "a" * 65, "tab\tx"])
def test_a_run_name_that_is_a_path_is_refused(raw, name):
    raw["runs"][name] = raw["runs"].pop("plain6")
    with pytest.raises(cfg.ConfigError, match=r"runs\.") as err:
        cfg.parse(raw)
    assert "file path" in one_line(err) or "at most 64" in one_line(err)


@pytest.mark.parametrize("where", ["overlays", "titles"])
def test_report_keys_that_are_paths_are_refused(raw, where):
    table = raw["report"][where]
    table["../../evil"] = table.pop(next(iter(table)))
    with pytest.raises(cfg.ConfigError, match=rf"report\.{where}\.\.\./\.\./evil") as err:
        cfg.parse(raw)
    one_line(err)


@pytest.mark.parametrize("parts", [("..", "x"), ("a/../../b",), ("/abs",), ("",), ("x\ny",)])
def test_no_result_path_leaves_the_project(parts):
    with pytest.raises(UserError, match="cannot be part of a path"):
        layout.under(layout.RESULTS, *parts)
    with pytest.raises(UserError):
        layout.train_dir(parts[0])


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_train_refuses_a_path_run_before_writing(tmp_path, monkeypatch):
    """The probe: `python -m replication.stages.train ../../../x` with such a run in params.yaml wrote outside."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["runs"]["../../../x"] = raw["runs"]["plain6"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = subprocess.run([sys.executable, "-m", "replication.stages.train", "../../../x"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "file path" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
    assert not (tmp_path.parent.parent / "x").exists()


# --------------------------------------------------------------------------- 3. nothing hangs


def test_a_fifo_in_a_source_is_refused_not_waited_on(tmp_path, splits):
    folder = write_batches_folder(splits, tmp_path / "src")
    (folder / "data_batch_3").unlink()
    os.mkfifo(folder / "data_batch_3")
    pngs = write_png_tree(splits, tmp_path / "png")
    png = next((pngs / "train" / "cat").glob("*.png"))
    png.unlink()
    os.mkfifo(png)
    for source in (folder, pngs, folder / "data_batch_3"):
        with within(10), pytest.raises(cifar.DataError, match="is a FIFO, not a regular file") as err:
            cifar.fetch(source, tmp_path / "data", full=False)
        one_line(err)


def test_the_estimator_cli_refuses_a_fifo(tmp_path, capsys):
    os.mkfifo(tmp_path / "x.npy")
    np.save(tmp_path / "y.npy", np.arange(10) % 2)
    with within(10):
        assert wavelets.main([str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]) == 1
    assert "is a FIFO, not a regular file" in capsys.readouterr().err


def test_a_fifo_for_weights_data_or_a_file_to_hash_is_refused_not_waited_on(tmp_path):
    """The readers of weights and resume files (torch), data arrays (numpy) and md5s open through open_regular."""
    from replication.core.files import file_md5
    from replication.networks import dataset
    from replication.networks.weights import load_state

    os.mkfifo(tmp_path / "final.pt")
    data = tmp_path / "data"
    data.mkdir()
    for split in dataset.SPLITS:
        for kind in dataset.CANONICAL_FILES:
            (data / f"{split}_{kind}").write_bytes(b"")
    (data / "train_images.npy").unlink()
    os.mkfifo(data / "train_images.npy")
    for call in (lambda: load_state(tmp_path / "final.pt", "rerun its training"),
                 lambda: file_md5(tmp_path / "final.pt"),
                 lambda: dataset.load_split(data, "train")):
        with within(10), pytest.raises(UserError, match="is a FIFO, not a regular file") as err:
            call()
        one_line(err)


def test_the_report_reads_dvc_lock_through_the_guarded_reader(tmp_path):
    from replication.report.provenance import lock_hash

    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n" + "".join(
        f"  s{i}: &s{i} [" + ", ".join([f"*s{i - 1}" if i else "x"] * 10) + "]\n" for i in range(10)))
    with within(10), pytest.raises(UserError, match="dvc.lock: .*expands to more than") as err:
        lock_hash(tmp_path)
    one_line(err)
    from replication.report import render
    from replication.report import settings as report_cfg

    with within(10), pytest.raises(UserError, match="^dvc.lock: .*expands to more than"):  # before any result is read
        render.build(report_cfg.load(), tmp_path / "report", root=tmp_path)
    assert not (tmp_path / "report").exists()
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train: {cmd: x}\n  report: {cmd: y}\n")
    assert lock_hash(tmp_path) == lock_hash(tmp_path)  # a sane lock still hashes


def test_a_second_training_of_a_run_is_refused_before_the_dataset_loads(tmp_path, monkeypatch):
    """No data/ here: a refusal that came after loading the dataset would name the data instead."""
    from replication.networks.training import lock_of
    from replication.stages import train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    lock = lock_of(layout.resume_file("train", "resnet12", ".pt"))
    with files.exclusive(lock, "training resnet12"), within(10):
        with pytest.raises(UserError, match=r"training resnet12 is already running \(pid \d+") as err:
            train.main(["resnet12"])
    one_line(err)


def test_describe_refuses_a_network_too_large_to_build_before_building_it(tmp_path, capsys):
    from replication.__main__ import main

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["networks"]["huge"] = {"layers": ["stem conv1:4096", "plain conv2:4096", "plain conv3:4096",
                                          "avgpool", "linear fc1:10"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with within(10):
        assert main(["describe", "huge", "--params", str(tmp_path / "params.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "network 'huge' would have" in err and "more than the 50,000,000" in err


@pytest.mark.slow
def test_an_archive_of_too_many_members_stops_at_the_bound(tmp_path):
    import io

    from replication.tools import sources

    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(sources.MAX_ARCHIVE_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"x/{i}"), io.BytesIO(b""))
    with within(20), pytest.raises(cifar.DataError, match="more than 10,000 members") as err:
        cifar.fetch(archive, tmp_path / "data", full=False)
    one_line(err)


def test_data_check_of_a_big_folder_stops_at_the_bound(tmp_path, capsys):
    for i in range(cifar.MAX_DATA_ENTRIES + 1):
        (tmp_path / f"f{i}").write_bytes(b"")
    with within(10):
        assert cifar.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "more than 1,000 entries" in err


def test_messages_name_the_right_thing(tmp_path, capsys):
    """A FIFO given to --md5 is a FIFO (not 'a folder'); a title with a control character is refused by key;
    --tolerance takes finite numbers >= 0 only."""
    from replication.__main__ import main
    from replication.report import settings as cfg

    os.mkfifo(tmp_path / "archive.tar.gz")
    with within(10), pytest.raises(UserError, match="is a FIFO, not a regular file") as err:
        cifar.fetch(tmp_path / "archive.tar.gz", tmp_path / "data", md5="0" * 32, full=False)
    one_line(err)
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["report"]["title"] = "Smoothness\x1b[31m"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(UserError, match=r"key 'report.title': holds the control character '\\x1b'"):
        cfg.load(tmp_path / "params.yaml")
    for bad in ("nan", "-1", "inf"):
        with pytest.raises(SystemExit) as exit_:
            main(["compare", "HEAD", "HEAD", "--tolerance", bad])
        assert exit_.value.code == 2 and "give a finite number >= 0" in capsys.readouterr().err


@pytest.mark.parametrize(("path", "text", "words"), [
    ("results/smoothness/as_run/resnet12/alphas.json", '{"layers": [{"layer": "fc1", "alpha": "high"}]}',
     "layers.0.alpha: input should be a valid number"),
    ("results/smoothness/as_run/resnet12/alphas.json", '{"layers": []}', "layers: list should have at least 1"),
    ("results/train/resnet12/metrics.json", '{"test_accuracy": 0.6, "epochs_run": 3}',
     "restored_epoch: field required"),
    ("results/train/resnet12/metrics.json", '{"test_accuracy": 0.6, "epochs_run": 3, "restored_epoch": 1e6}',
     "restored_epoch"),
    ("results/train/resnet12/history.csv", "epoch,train_loss,val_loss,val_accuracy\n1,nope,1.0,0.5\n",
     "line 2: train_loss"),
    ("results/targets/resnet12.json", '{"run": "resnet12", "weights": "best", "weights_md5": "x"}', "weights"),
])
def test_result_values_are_checked_after_they_parse(tmp_path, path, text, words):
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(text)
    with pytest.raises(UserError, match=re.escape(words)) as err:
        layout.need(Path(path), "some@stage", tmp_path)
    assert one_line(err).startswith(path) and "dvc repro -f some@stage" in str(err.value)


@pytest.mark.parametrize(("key", "value", "words"), [("epoch", "three", "epoch is 'three'"),
                                                     ("epoch", 10**6, "epoch is '1000000'"),
                                                     ("history", "nope", "its history is not one row")])
def test_a_resume_file_with_bad_counters_is_named(tmp_path, key, value, words):
    import torch

    from replication.networks import training

    state = {"fingerprint": "k", "epoch": 1, "best_epoch": 1, "elapsed": 1.0, "model": {}, "optimiser": {},
             "rule": {}, "best": None, "snapshot": None,
             "history": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5}]}
    state[key] = value
    path = tmp_path / "run.pt"
    torch.save(state, path)
    with pytest.raises(UserError, match=re.escape(words)) as err:
        training._resume("run", path, "k", None, None, None, None)
    assert "delete it and rerun" in one_line(err)


def test_labels_outside_the_ten_classes_are_named(tmp_path, splits):
    from replication.networks import dataset

    cifar.write_canonical(cifar.canonicalize(splits, "synthetic", full=False), tmp_path / "data")
    labels = np.load(tmp_path / "data" / "test_labels.npy")
    labels[0] = 12
    np.save(tmp_path / "data" / "test_labels.npy", labels)
    with pytest.raises(cifar.DataError, match=r"test_labels.npy: labels from \d to 12 \(10 classes") as err:
        dataset.load_split(tmp_path / "data", "test")
    one_line(err)


def alias_bomb(levels: int = 10, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    bomb = alias_bomb()
    assert len(bomb) < 1100
    path = tmp_path / "params.yaml"
    path.write_text(bomb)
    with within(10):
        with pytest.raises(cfg.ConfigError, match="expands to more than") as err:
            cfg.load(path)
        one_line(err)
        assert wavelets.main(["x.npy", "y.npy", "--set", f"n_trees={{{bomb.replace(chr(10), ', ')}}}"]) == 1
    assert "expands to more than" in capsys.readouterr().err


def test_a_huge_value_is_cut_short_in_messages(raw):
    raw["train"]["batch_size"] = [list(range(1000))] * 1000  # a big value, as an alias could make
    with within(10), pytest.raises(cfg.ConfigError) as err:
        cfg.parse(raw)
    assert len(one_line(err)) < 300


# --------------------------------------------------------------------------- 4, 5. locks


def test_two_report_renders_do_not_share_a_staging_folder(tmp_path, monkeypatch):
    from tables import results

    from replication.report import render

    monkeypatch.setattr(render, "gather", lambda params, root, **_: results(params, {}))
    monkeypatch.setattr(layout, "need", lambda path, stage, root: {})
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF the previous report")
    with files.exclusive(tmp_path / ".report.lock", "a report render"):
        with pytest.raises(UserError, match="already running") as err:
            render.build(cfg.load(ROOT / "params.yaml"), out, tmp_path)
        one_line(err)
    assert tree(out) == {"report.pdf": b"%PDF the previous report"}
    assert not (tmp_path / ".report.staging").exists()


def test_a_result_changed_during_the_render_is_named_and_not_swapped_in(tmp_path):
    """The manifest hashes the results the report was rendered from: a file changed, added or removed meanwhile
    stops the render in one line (build then leaves the previous report, as for any ReportError)."""
    from replication.report import render
    from replication.report.provenance import result_hashes

    (tmp_path / "results" / "train").mkdir(parents=True)
    metrics = tmp_path / "results" / "train" / "metrics.json"
    metrics.write_text("{}")
    before = result_hashes(tmp_path)
    render.unchanged(before, before, tmp_path, tmp_path / "report")  # nothing moved: no error
    metrics.write_text('{"written": "during the render"}')
    with pytest.raises(render.ReportError, match=r"results/train/metrics.json changed while the report") as err:
        render.unchanged(before, before, tmp_path, tmp_path / "report")
    one_line(err)
    metrics.write_text("{}")
    (tmp_path / "results" / "late.json").write_text("{}")
    with pytest.raises(render.ReportError, match=r"results/late.json changed"):
        render.unchanged(before, before, tmp_path, tmp_path / "report")


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_kept(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (tmp_path / "run.lock").symlink_to(target)
    with pytest.raises(UserError, match="is a symbolic link") as err:
        with files.exclusive(tmp_path / "run.lock", "a stage"):
            pass
    one_line(err)
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize(("code", "words"), [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied"),
                                             (errno.ENOLINK, "check the folder")])
def test_a_lock_file_that_cannot_be_opened_names_the_errno_and_what_to_do(tmp_path, monkeypatch, code, words):
    ran = []

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "open", fails)
    with pytest.raises(UserError, match=words) as err:
        with files.exclusive(tmp_path / "run.lock", "a stage"):
            ran.append(True)
    line = one_line(err)
    assert "run.lock: cannot open the lock file" in line and errno.errorcode[code] in line
    assert "nothing was started" in line and not ran


def test_yaml_reads_the_same_with_libyaml_and_pure_python(monkeypatch):
    text = "a: 1\nb: [1.5, 1e-3, .inf, yes, null, '007']\nc: &x {d: 2}\ne: *x\nf: 2024-01-02\n"
    fast = files.load_yaml(text, "t.yaml")
    assert fast["e"] == {"d": 2} and fast["b"][3] is True and fast["b"][5] == "007"
    for loader in (files._YAML_LOADER, yaml.SafeLoader):
        monkeypatch.setattr(files, "_YAML_LOADER", loader)
        assert files.load_yaml(text, "t.yaml") == fast
        with pytest.raises(UserError, match=r"t.yaml: duplicate key 'a' \(line 2\)"):
            files.load_yaml("a: 1\na: 2\n", "t.yaml")
        with pytest.raises(UserError, match=r"t.yaml: not valid YAML"):
            files.load_yaml("a: [1\n", "t.yaml")


# --------------------------------------------------------------------------- 6. limits on what is read


def test_an_archive_is_read_member_by_member_within_bounds(tmp_path, splits, monkeypatch):
    folder = write_batches_folder(splits, tmp_path / "staging" / "cifar-10-batches-py")
    (tmp_path / "junk.bin").write_bytes(bytes(3 << 20))  # compresses to almost nothing
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "junk.bin", arcname="junk.bin")
        tar.add(folder, arcname="cifar-10-batches-py")
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 2 << 20)
    with within(10), pytest.raises(cifar.DataError, match="holds more than 2 MB") as err:
        cifar.fetch(archive, tmp_path / "data", full=False)
    one_line(err)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 8 << 20)  # within bounds: read, junk skipped, nothing unpacked
    cifar.fetch(archive, tmp_path / "data", full=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.lock", "bomb.tar.gz", "data", "junk.bin", "staging"]


def png_bytes(width: int, height: int, depth: int, colour: int, pixels: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("content, message", [
    (png_bytes(10000, 9000, 8, 2), "8-bit RGB 10000x9000; expected 8-bit RGB 32x32"),
    (png_bytes(32, 32, 16, 2, b"".join(b"\x00" + b"\x12\x34" * 96 for _ in range(32))), "16-bit RGB 32x32"),
    (b"\xff\xd8\xff\xe0" + bytes(200), "its content is JPEG, not a PNG"),
    (bytes(70_000), "more than the 65,536"),
])
def test_a_png_is_judged_by_its_header_before_decoding(tmp_path, splits, content, message):
    pngs = write_png_tree(splits, tmp_path / "png")
    next((pngs / "test" / "dog").glob("*.png")).write_bytes(content)
    with within(10), pytest.raises(cifar.DataError, match=message) as err:
        cifar.fetch(pngs, tmp_path / "data", full=False)
    one_line(err)


def test_a_nested_list_pickle_is_refused_before_it_expands(tmp_path, splits):
    folder = write_batches_folder(splits, tmp_path / "src")
    nested = [0] * 10
    for _ in range(9):  # 10**10 elements once flattened, 200 bytes pickled (shared references)
        nested = [nested] * 10
    batch = pickle.loads((folder / "data_batch_1").read_bytes())
    batch[b"data"] = nested
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    assert (folder / "data_batch_1").stat().st_size < 2000
    with within(10), pytest.raises(cifar.DataError, match="'data' is a list; expected a uint8 numpy array") as err:
        cifar.fetch(folder, tmp_path / "data", full=False)
    one_line(err)


def test_forest_sizes_and_processes_are_bounded(capsys):
    with pytest.raises(EstimatorError, match="n_trees' must be less than or equal to 1000"):
        estimator("as_run", {"n_trees": 10**9})
    with pytest.raises(EstimatorError, match="max_depth"):
        estimator("as_run", {"max_depth": 10**23})
    assert wavelets.main(["x.npy", "y.npy", "--n-jobs", "100000"]) == 1
    assert "--n-jobs is 100000; use 1 to" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["²", "10" * 20, "0", "-3", "many"])
def test_replication_jobs_must_be_a_plain_number(monkeypatch, value):
    monkeypatch.setenv(wavelets.JOBS_VARIABLE, value)
    with pytest.raises(EstimatorError, match="REPLICATION_JOBS") as err:
        wavelets.default_jobs()
    one_line(err)


# --------------------------------------------------------------------------- 7. silently wrong


def test_upper_case_png_suffixes_are_read(tmp_path, splits):
    pngs = write_png_tree(splits, tmp_path / "png")
    first = next((pngs / "train" / "cat").glob("*.png"))
    first.rename(first.with_suffix(".PNG"))
    cifar.fetch(pngs, tmp_path / "data", full=False)
    assert len((tmp_path / "data" / "train_filenames.txt").read_text().splitlines()) == 20


def test_file_names_with_control_characters_are_refused(tmp_path, splits):
    pngs = write_png_tree(splits, tmp_path / "png")
    first = next((pngs / "train" / "cat").glob("*.png"))
    first.rename(first.with_name("two\nlines.png"))
    with pytest.raises(cifar.DataError, match="control character") as err:
        cifar.fetch(pngs, tmp_path / "data", full=False)
    one_line(err)
    folder = write_batches_folder(splits, tmp_path / "src")
    batch = pickle.loads((folder / "test_batch").read_bytes())
    batch[b"filenames"][0] = b"two\nlines.png"
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(cifar.DataError, match="control character") as err:
        cifar.fetch(folder, tmp_path / "data", full=False)
    one_line(err)


@pytest.mark.parametrize("key, value", [
    (("data", "mean"), [float("nan"), 0.5, 0.5]), (("data", "std"), [float("inf"), 1.0, 1.0]),
    (("networks", "plain6", "lr"), float("inf")), (("suggest", "min_drop"), float("nan")),
])
def test_non_finite_floats_are_refused(raw, key, value):
    parent = raw
    for part in key[:-1]:
        parent = parent[part]
    parent[key[-1]] = value
    with pytest.raises(cfg.ConfigError, match=".".join(key)) as err:
        cfg.parse(raw)
    assert "finite" in one_line(err)


def test_duplicate_keys_are_refused(tmp_path):
    text = (ROOT / "params.yaml").read_text().replace("  val_size: 10000", "  val_size: 10000\n  val_size: 5000")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(cfg.ConfigError, match="duplicate key 'val_size'") as err:
        cfg.load(tmp_path / "params.yaml")
    one_line(err)


def test_features_that_overflow_when_scaled_are_refused():
    x = np.random.default_rng(0).normal(size=(20, 3))
    x[:10, 1], x[10:, 1] = -1e308, 1e308
    with pytest.raises(EstimatorError, match="feature 1 spans -1e\\+308 to 1e\\+308"):
        wavelets.scale_features(x)


# --------------------------------------------------------------------------- 8. no tracebacks


@pytest.mark.parametrize("key, value, message", [
    (("runs", "plain6", "seed"), 10**23, "runs.plain6.seed"),
    (("base", "threads"), 10**20, "base.threads"),
    (("data", "split_seed"), 2**32, "data.split_seed"),
    (("smoothness", "presets", "as_run", "max_depth"), 10**23, "max_depth"),
    (("networks", "plain6", "layers"), ["stem conv1:100000000000000000000"], "width from 1 to 4096"),
    (("networks", "plain6", "layers"), ["stem conv1:²"], "width from 1 to 4096"),
])
def test_huge_integers_end_in_one_line(raw, key, value, message):
    parent = raw
    for part in key[:-1]:
        parent = parent[part]
    parent[key[-1]] = value
    with pytest.raises((cfg.ConfigError, nets.SpecError)) as err:
        params = cfg.parse(raw)
        nets.build("plain6", params.network_config("plain6"))
    assert message in one_line(err)


def test_weights_that_do_not_fit_are_named(tmp_path, monkeypatch):
    import torch

    from replication.networks import checkpoint

    monkeypatch.chdir(tmp_path)
    params = cfg.load(ROOT / "params.yaml")
    weights.save(layout.weights("plain6", "final"), {"conv1.weight": torch.zeros(3)})
    with pytest.raises(UserError, match="weights do not fit the network") as err:
        checkpoint.trained_network(params, "plain6", "final")
    assert "plain6/final.pt" in one_line(err)
    weights.save(layout.weights("plain6", "final"), {"model": {"nested": [1, 2]}})
    with pytest.raises(UserError, match="does not hold a network's weights"):
        checkpoint.trained_network(params, "plain6", "final")


def test_a_resume_file_of_another_shape_is_named(tmp_path):
    from replication.estimator.layerwise import LayerCheckpoint

    path = tmp_path / "state.json"
    files.write_json(path, {"key": "k", "rows": [{"layer": "conv1"}]})
    with pytest.raises(UserError, match="not a resume file of this version") as err:
        LayerCheckpoint(path, "k", "label")
    one_line(err)


def test_compare_and_status_name_a_broken_file(tmp_path, monkeypatch, capsys):
    from replication.__main__ import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    layout.METRICS_DIR.mkdir(parents=True)
    (layout.METRICS_DIR / "train.json").write_text("{not json")
    (layout.RESULTS / "train" / "plain6").mkdir(parents=True)
    (layout.train_metrics("plain6")).write_text("[1, 2")
    assert main(["compare", "workspace", "workspace"]) == 1
    assert main(["status"]) == 1
    (layout.METRICS_DIR / "train.json").write_text("{}")
    (tmp_path / "params.yaml").write_text("a: [1, 2\n")
    assert main(["compare", "workspace", "workspace"]) == 1
    err = capsys.readouterr().err
    assert err.count("error: ") == 3 and err.count("\n") == 3 and "Traceback" not in err
    assert "train.json is not valid JSON" in err and "params.yaml: not valid YAML" in err


def test_a_full_disk_is_named_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    path = tmp_path / "out" / "result.json"
    files.write_json(path, {"old": 1})

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_space)
    with pytest.raises(UserError, match="the disk is full") as err:
        files.write_json(path, {"new": 2})
    assert "result.json" in one_line(err)
    assert [p.name for p in path.parent.iterdir()] == ["result.json"] and files.read_json(path) == {"old": 1}


@pytest.mark.parametrize(("code", "words"), [(errno.EROFS, "read-only"), (errno.EFBIG, "file-size limit"),
                                             (errno.ENAMETOOLONG, "name is too long"), (errno.EISDIR, "a folder"),
                                             (errno.EACCES, "permission denied"), (errno.EIO, "input/output"),
                                             (errno.ENOLINK, "check the folder")])
@pytest.mark.parametrize("where", ["mkstemp", "replace"])
def test_every_write_error_is_named_by_errno_and_keeps_the_old_file(tmp_path, monkeypatch, code, words, where):
    path = tmp_path / "out" / "result.json"
    files.write_json(path, {"old": 1})

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.tempfile if where == "mkstemp" else files.os, where, fails)
    with pytest.raises(UserError, match=words) as err:
        files.write_json(path, {"new": 2})
    line = one_line(err)
    assert str(path) in line and errno.errorcode[code] in line and "the old file, if any, is intact" in line
    assert [p.name for p in path.parent.iterdir()] == ["result.json"] and files.read_json(path) == {"old": 1}


def test_nan_never_reaches_a_json_file_as_bare_nan(tmp_path):
    files.write_json(tmp_path / "m.json", {"z": float("nan"), "rows": [1.5, float("inf")], "n": np.float64("nan")})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"z": None, "rows": [1.5, None], "n": None}


def test_an_archive_without_a_batch_names_it(tmp_path, splits):
    folder = write_batches_folder(splits, tmp_path / "staging" / "cifar-10-batches-py")
    (folder / "data_batch_3").unlink()
    archive = tmp_path / "short.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(cifar.DataError, match="the archive has no data_batch_3") as err:
        cifar.fetch(archive, tmp_path / "data", full=False)
    one_line(err)
