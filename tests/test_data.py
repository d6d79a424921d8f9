"""The canonical dataset: same arrays from every source, clear errors, nothing half-written."""

from __future__ import annotations

import functools
import http.server
import pickle
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from synthetic import make_splits, write_archive, write_batches_folder, write_png_tree

from replication.core.errors import UserError
from replication.core.files import file_md5
from replication.networks import dataset
from replication.tools import data as cifar


@pytest.fixture(scope="module")
def splits():
    return make_splits(n_train=50, n_test=20)


def snapshot(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_three_formats_give_identical_canonical_files(tmp_path, splits):
    sources = {
        "batches": write_batches_folder(splits, tmp_path / "src" / "cifar-10-batches-py"),
        "archive": write_archive(splits, tmp_path / "src2" / "cifar-10-python.tar.gz"),
        "png": write_png_tree(splits, tmp_path / "src3"),
    }
    outputs = {}
    for name, source in sources.items():
        root = tmp_path / f"out_{name}"
        cifar.fetch(source, root, full=False)
        outputs[name] = snapshot(root)
        assert cifar.dvc_dir_hash(root) == cifar.dvc_dir_hash(tmp_path / "out_batches")
    assert outputs["batches"] == outputs["archive"] == outputs["png"]
    images, labels = dataset.load_split(tmp_path / "out_png", "train")
    assert images.shape == (50, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    names = (tmp_path / "out_png" / "train_filenames.txt").read_text().split()
    assert names == sorted(names)
    i = splits["train"].filenames.index(names[0])
    np.testing.assert_array_equal(images[0], splits["train"].images[i])


def test_full_size_is_enforced_by_default(tmp_path, splits):
    src = write_batches_folder(splits, tmp_path / "b")
    with pytest.raises(cifar.DataError, match="CIFAR-10 has 50000"):
        cifar.fetch(src, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def _serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow  # over 1.5 s on 2 cores: the full tier
def test_download_checks_md5(tmp_path, splits):
    archive = write_archive(splits, tmp_path / "www" / "cifar-10-python.tar.gz")
    server = _serve(archive.parent)
    try:
        url = f"http://127.0.0.1:{server.server_port}/cifar-10-python.tar.gz"
        cifar.fetch(None, tmp_path / "data", url=url, md5=file_md5(archive), full=False)
        assert (tmp_path / "data" / "train_images.npy").exists()
        before = snapshot(tmp_path / "data")
        with pytest.raises(cifar.DataError, match="md5"):
            cifar.fetch(None, tmp_path / "data", url=url, md5="0" * 32, full=False)
        assert snapshot(tmp_path / "data") == before
    finally:
        server.shutdown()


@pytest.mark.slow
def test_download_failure_names_the_offline_route(tmp_path):
    with pytest.raises(cifar.DataError, match="fetch --from PATH") as err:
        cifar.fetch(None, tmp_path / "data", url="http://127.0.0.1:9/none.tar.gz")
    assert "fetch` (downloads" not in str(err.value) and "shared" not in str(err.value)  # only what works offline


def test_a_fetch_does_not_download_what_data_dvc_already_has(tmp_path, splits, capsys):
    root = tmp_path / "data"
    cifar.write_canonical(cifar.canonicalize(splits, "synthetic", full=False), root)
    dvc_file = tmp_path / "data.dvc"
    dvc_file.write_text(f"outs:\n- md5: {cifar.dvc_dir_hash(root)}\n  path: data\n")
    before = snapshot(root)
    cifar.fetch(None, root, url="http://127.0.0.1:9/none.tar.gz", dvc_file=dvc_file)  # would fail if it downloaded
    assert "already matches" in capsys.readouterr().out and snapshot(root) == before
    dvc_file.write_text("outs:\n- md5: 00000000000000000000000000000000.dir\n  path: data\n")
    with pytest.raises(cifar.DataError, match="could not download"):  # a mismatch is worth the download
        cifar.fetch(None, root, url="http://127.0.0.1:9/none.tar.gz", dvc_file=dvc_file)


def _corrupt(kind, tmp_path, splits):
    """Write a broken source of the given kind; return its path and the expected message."""
    if kind in ("truncated", "shape", "label", "corrupt", "zero_d", "bad_name"):
        folder = write_batches_folder(splits, tmp_path / "bad")
        path = folder / "data_batch_2"
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:500])
            return folder, "data_batch_2: not a readable CIFAR-10 pickle"
        if kind == "corrupt":
            path.write_bytes(b"not a pickle at all" * 10)
            return folder, "data_batch_2: not a readable CIFAR-10 pickle"
        batch = pickle.loads(path.read_bytes())
        if kind == "shape":
            batch[b"data"] = batch[b"data"][:, :3000]
            message = r"data_batch_2: 'data' has shape \(10, 3000\)"
        elif kind == "zero_d":  # named as the data it is, not as labels that fail to match its rows
            batch[b"data"] = np.array(7, dtype=np.uint8)
            message = r"data_batch_2: 'data' has shape \(\) and dtype uint8; expected \(rows, 3072\) uint8"
        elif kind == "bad_name":  # shown as its bytes, never decoded to U+FFFD
            batch[b"filenames"][4] = b"cat\xff\xfe.png"
            message = r"data_batch_2: 'filenames' entry 4 is not UTF-8 text \(b'cat\\xff\\xfe.png'\)"
        else:
            batch[b"labels"][3] = 12
            message = "label 12 .* out of range"
        path.write_bytes(pickle.dumps(batch))
        return folder, message
    folder = write_png_tree(splits, tmp_path / "bad")
    if kind == "missing_class":
        import shutil

        shutil.rmtree(folder / "test" / "frog")
        return folder, "test/frog: class folder missing"
    from PIL import Image

    png = next((folder / "train" / "cat").glob("*.png"))
    if kind == "bad_png_name":
        import os

        os.rename(png, os.fsencode(png.parent) + b"/cat\xff.png")
        return folder, r"train/cat/cat\\xff.png: the file name is not UTF-8 text; rename it"
    if kind == "size":
        Image.new("RGB", (31, 32)).save(png)
        return folder, "8-bit RGB 31x32; expected 8-bit RGB 32x32"
    Image.new("L", (32, 32)).save(png)
    return folder, "image is 8-bit grey 32x32"


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "shape", "zero_d", "bad_name", "label", "missing_class",
                                  "size", "grey", "bad_png_name"])
def test_bad_input_errors_and_leaves_data_untouched(tmp_path, splits, kind):
    root = tmp_path / "data"
    cifar.fetch(write_batches_folder(splits, tmp_path / "good"), root, full=False)
    before = snapshot(root)
    source, message = _corrupt(kind, tmp_path, splits)
    with pytest.raises(cifar.DataError, match=message):
        cifar.fetch(source, root, full=False)
    assert snapshot(root) == before
    leftovers = {p.name for p in tmp_path.iterdir() if p.name.startswith(".data")}
    assert leftovers <= {".data.lock"}  # the lock file stays (empty of meaning once its holder exits)


def test_truncated_archive(tmp_path, splits):
    archive = write_archive(splits, tmp_path / "a" / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[:2000])
    with pytest.raises(cifar.DataError, match="cifar-10-python.tar.gz"):
        cifar.fetch(archive, tmp_path / "data", full=False)
    assert not (tmp_path / "data").exists()


def test_missing_data_names_fetch_command(tmp_path):
    with pytest.raises(cifar.DataError, match=r"python -m replication.tools.data fetch --from PATH"):
        dataset.require(tmp_path / "nothing")


def test_check_compares_with_dvc_file(tmp_path, splits):
    root = tmp_path / "data"
    cifar.fetch(write_batches_folder(splits, tmp_path / "b"), root, full=False)
    dvc_file = tmp_path / "data.dvc"
    dvc_file.write_text(f"outs:\n- md5: {cifar.dvc_dir_hash(root)}\n  path: data\n")
    ok, message = cifar.check(root, dvc_file)
    assert ok and "matches" in message
    dvc_file.write_text("outs:\n- md5: 0123.dir\n  path: data\n")
    ok, message = cifar.check(root, dvc_file)
    assert not ok and "does NOT match" in message and "expected 0123.dir" in message


@pytest.mark.slow
def test_committed_data_dvc_matches_shared_copy(tmp_path):
    """The shared rebuilt copy gives exactly the hash committed in data.dvc."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar-10-batches-py"
    if not shared.exists():
        pytest.skip("../shared/data is not beside this checkout")
    shutil.copy(Path(__file__).resolve().parents[1] / "data.dvc", tmp_path / "data.dvc")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    # A fresh DVC project (empty cache) with the committed data.dvc: the fetch command checks the hash and
    # puts data/ into the DVC cache, so status is clean right after it.
    fetched = subprocess.run([sys.executable, "-m", "replication.tools.data", "fetch", "--from", str(shared)],
                             cwd=tmp_path,
                             capture_output=True, text=True)
    assert fetched.returncode == 0 and "matches data.dvc" in fetched.stdout and "cached in" in fetched.stdout, fetched
    ok, message = cifar.check(tmp_path / "data", Path(__file__).resolve().parents[1] / "data.dvc")
    assert ok, message
    status = subprocess.run([dvc, "status", "data.dvc"], cwd=tmp_path, capture_output=True, text=True)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr


class _RunsCode:
    """Unpickling this calls os.system: what a crafted batches.meta can do with plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_crafted_pickle_runs_no_code(tmp_path, splits):
    folder = write_batches_folder(splits, tmp_path / "evil")
    marker = tmp_path / "pwned"
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": _RunsCode(marker)}))
    with pytest.raises(cifar.DataError, match=r"batches.meta: refuses to load (posix|os)\.system.*not executed"):
        cifar.fetch(folder, tmp_path / "data", full=False)
    assert not marker.exists() and not (tmp_path / "data").exists()


def test_non_integer_labels_are_rejected(tmp_path, splits):
    folder = write_batches_folder(splits, tmp_path / "floats")
    path = folder / "data_batch_1"
    batch = pickle.loads(path.read_bytes())
    batch[b"labels"] = [float(v) + 0.7 for v in batch[b"labels"]]  # 2.7 used to become 2
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(cifar.DataError, match="data_batch_1: 'labels' must be a list of integer class indices"):
        cifar.fetch(folder, tmp_path / "data", full=False)


def test_other_data_never_replaces_the_committed_one(tmp_path, splits, monkeypatch):
    """Data that passes every per-file check but differs from data.dvc is refused before the swap."""
    monkeypatch.setattr(cifar, "SPLITS", {"train": 50, "test": 20})  # "full size" for the tiny splits
    good = write_batches_folder(splits, tmp_path / "good")
    root, dvc_file = tmp_path / "data", tmp_path / "data.dvc"
    cifar.fetch(good, root, dvc_file=dvc_file)  # no data.dvc yet: nothing to compare with
    dvc_file.write_text(f"outs:\n- md5: {cifar.dvc_dir_hash(root)}\n  path: data\n")
    before = snapshot(root)
    other = write_batches_folder(make_splits(n_train=50, n_test=20, seed=1), tmp_path / "other")
    with pytest.raises(cifar.DataError, match="differ from the committed dataset. .*data/ was left as it was"):
        cifar.fetch(other, root, dvc_file=dvc_file)
    assert snapshot(root) == before and [p.name for p in tmp_path.glob(".data.*")] == [".data.lock"]
    cifar.fetch(good, root, dvc_file=dvc_file)  # the same data again is fine
    cifar.fetch(other, root, dvc_file=dvc_file, replace=True)  # and --replace takes the other
    assert snapshot(root) != before


def test_md5_checks_a_local_archive(tmp_path, splits):
    archive = write_archive(splits, tmp_path / "a" / "cifar-10-python.tar.gz")
    cifar.fetch(archive, tmp_path / "data", md5=file_md5(archive), full=False)
    with pytest.raises(cifar.DataError, match=r"md5 is .*expected 0{32} \(--md5\)"):
        cifar.fetch(archive, tmp_path / "data", md5="0" * 32, full=False)
    with pytest.raises(cifar.DataError, match="--md5 checks an archive file; .* is a folder"):
        cifar.fetch(archive.parent, tmp_path / "data", md5="0" * 32, full=False)
    with pytest.raises(UserError, match="staging: no such file"):  # absent: not called a folder
        cifar.fetch(archive.parent.parent / "staging", tmp_path / "data", md5="0" * 32, full=False)


def test_leftovers_of_an_interrupted_fetch_are_removed(tmp_path, splits, capsys):
    (tmp_path / ".data.k3j2h1").mkdir()
    (tmp_path / ".data.k3j2h1" / "train_images.npy").write_bytes(b"half")
    cifar.fetch(write_batches_folder(splits, tmp_path / "b"), tmp_path / "data", full=False)
    assert [p.name for p in tmp_path.glob(".data.*")] == [".data.lock"]
    assert "left by an interrupted fetch" in capsys.readouterr().out


def test_a_crash_between_the_two_renames_keeps_the_only_copy_of_the_data(tmp_path, splits, capsys):
    """swap_in moved data/ into .data.old.X/ and died before renaming the new folder in: the next fetch (of a
    source that turns out bad) must put the backup back, not delete it with the leftovers."""
    root = tmp_path / "data"
    cifar.fetch(write_batches_folder(splits, tmp_path / "b"), root, full=False)
    before = snapshot(root)
    backup = tmp_path / ".data.old.abc123"
    backup.mkdir()
    root.rename(backup / "data")
    (tmp_path / ".data.xyz789").mkdir()  # the new folder, never renamed in
    with pytest.raises(cifar.DataError):
        cifar.fetch(tmp_path / "no-such-source", root, full=False)
    assert snapshot(root) == before
    assert "restored" in capsys.readouterr().out
    assert [p.name for p in tmp_path.glob(".data.*")] == [".data.lock"]
