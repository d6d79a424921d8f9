"""The data tool: build the canonical CIFAR-10 folder from any source, and check it against data.dvc.

No stage imports this module (stages read data/ through replication.dataset), so a change here never
reruns a training. The canonical folder holds, per split, uint8 images (N x 3 x 32 x 32), int64
labels and the original file names, rows sorted by file name, plus the class names. Sorting by name
makes the official archive, its extracted folder and a folder of PNGs give byte-identical files,
hence one DVC hash whatever the source. Pickles are read with an unpickler that can only build
numpy arrays and plain containers, so a crafted file cannot run code.

    python -m replication.data fetch                 # download the official archive (md5-checked)
    python -m replication.data fetch --from PATH     # archive, cifar-10-batches-py folder or PNG tree
    python -m replication.data check                 # compare data/ with data.dvc

A new folder is built beside data/ and checked against data.dvc before it replaces the old one
(`--replace` accepts data that differs); an interrupted fetch leaves a `.data.*` folder, which the
next fetch removes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from replication.dataset import CLASSES, FETCH_HINT, SPLITS, DataError
from replication.files import dumps_json, file_md5

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCH_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
DEFAULT_ROOT = Path("data")
DVC_FILE = Path("data.dvc")

@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, N x 3 x 32 x 32
    labels: np.ndarray  # int64, N
    filenames: tuple[str, ...]


# --------------------------------------------------------------------------- readers


def _check_split(split: Split, name: str, source: str, expected: int | None) -> None:
    n = len(split.filenames)
    if split.images.dtype != np.uint8 or split.images.shape != (n, 3, 32, 32):
        raise DataError(
            f"{source}: {name} images have shape {split.images.shape} and dtype "
            f"{split.images.dtype}; expected ({n}, 3, 32, 32) uint8"
        )
    if split.labels.shape != (n,):
        raise DataError(f"{source}: {name} has {split.labels.shape[0]} labels for {n} images")
    bad = (split.labels < 0) | (split.labels >= len(CLASSES))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{source}: {name} label {int(split.labels[i])} of {split.filenames[i]!r} is out of "
            f"range 0..{len(CLASSES) - 1}"
        )
    if len(set(split.filenames)) != n:
        raise DataError(f"{source}: {name} file names are not unique")
    if expected is not None and n != expected:
        raise DataError(f"{source}: {name} has {n} images; CIFAR-10 has {expected}")


# What the official pickles (and numpy's own pickling) need; nothing that can run code.
SAFE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Builds plain containers and numpy arrays only; any other global is refused before it loads."""

    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise DataError(f"refuses to load {module}.{name}: a CIFAR-10 pickle holds only arrays and lists "
                            "(the file may be crafted to run code; it was not executed)")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            raw = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; a cifar-10-batches-py folder has {_all_batch_names()}") from None
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    except Exception as err:  # truncated or corrupt files raise many different types
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(err).__name__}: {err})") from err
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(raw).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _all_batch_names() -> str:
    return ", ".join(["batches.meta", *BATCH_FILES["train"], *BATCH_FILES["test"]])


def read_batches_folder(folder: Path) -> dict[str, Split]:
    """Read the official python layout (data_batch_1..5, test_batch, batches.meta)."""
    folder = Path(folder)
    meta = _unpickle(folder / "batches.meta")
    names = [n.decode() if isinstance(n, bytes) else n for n in meta.get("label_names", [])]
    if tuple(names) != CLASSES:
        raise DataError(f"{folder / 'batches.meta'}: label_names {names} are not CIFAR-10's {CLASSES}")
    splits = {}
    for split, files in BATCH_FILES.items():
        images, labels, filenames = [], [], []
        for name in files:
            path = folder / name
            batch = _unpickle(path)
            for key in ("data", "labels", "filenames"):
                if key not in batch:
                    raise DataError(f"{path}: key '{key}' missing")
            data = np.asarray(batch["data"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                raise DataError(
                    f"{path}: 'data' has shape {data.shape} and dtype {data.dtype}; "
                    "expected (rows, 3072) uint8"
                )
            if len(batch["labels"]) != data.shape[0] or len(batch["filenames"]) != data.shape[0]:
                raise DataError(
                    f"{path}: {data.shape[0]} images but {len(batch['labels'])} labels and "
                    f"{len(batch['filenames'])} file names"
                )
            raw_labels = np.asarray(batch["labels"])
            if raw_labels.ndim != 1 or not np.issubdtype(raw_labels.dtype, np.integer):
                raise DataError(f"{path}: 'labels' must be a list of integer class indices, got "
                                f"{raw_labels.dtype} values such as {raw_labels.ravel()[:3].tolist()}")
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(raw_labels.astype(np.int64))
            filenames += [f.decode() if isinstance(f, bytes) else str(f) for f in batch["filenames"]]
        splits[split] = Split(np.concatenate(images), np.concatenate(labels), tuple(filenames))
    return splits


def read_png_tree(folder: Path) -> dict[str, Split]:
    """Read train/<class>/*.png and test/<class>/*.png (8-bit RGB, 32x32)."""
    from PIL import Image

    folder = Path(folder)
    splits = {}
    for split in SPLITS:
        images, labels, filenames = [], [], []
        for label, cls in enumerate(CLASSES):
            class_dir = folder / split / cls
            if not class_dir.is_dir():
                raise DataError(
                    f"{class_dir}: class folder missing; a PNG tree needs {split}/<class>/ for "
                    f"each of {', '.join(CLASSES)}"
                )
            for png in sorted(class_dir.glob("*.png")):
                try:
                    with Image.open(png) as img:
                        img.load()
                        mode, size = img.mode, img.size
                        array = np.asarray(img)
                except Exception as err:
                    raise DataError(f"{png}: not a readable PNG ({err})") from err
                if mode != "RGB" or size != (32, 32):
                    raise DataError(f"{png}: image is {mode} {size[0]}x{size[1]}; expected RGB 32x32")
                images.append(array.transpose(2, 0, 1))
                labels.append(label)
                filenames.append(png.name)
        if not images:
            raise DataError(f"{folder / split}: no PNG images found")
        splits[split] = Split(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(filenames))
    return splits


def read_archive(path: Path) -> dict[str, Split]:
    """Read the official cifar-10-python.tar.gz (or any tar holding that folder)."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{path}: not a readable tar archive ({err})") from err
        folders = [p.parent for p in Path(tmp).rglob("batches.meta")]
        if len(folders) != 1:
            raise DataError(f"{path}: expected one cifar-10-batches-py folder inside, found {len(folders)}")
        return read_batches_folder(folders[0])


def read_source(path: Path) -> dict[str, Split]:
    """Read any supported source: an archive, a batches folder or a PNG tree."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. {FETCH_HINT}")
    if path.is_file():
        return read_archive(path)
    if (path / "batches.meta").exists() or (path / "data_batch_1").exists():
        return read_batches_folder(path)
    if (path / "train").is_dir() or (path / "test").is_dir():
        return read_png_tree(path)
    raise DataError(
        f"{path}: neither a cifar-10-batches-py folder (batches.meta, data_batch_*) nor a PNG tree "
        "(train/<class>/*.png, test/<class>/*.png)"
    )


# --------------------------------------------------------------------------- canonical form


def canonicalize(splits: dict[str, Split], source: str, full: bool = True) -> dict[str, Split]:
    """Validate each split and sort its rows by original file name."""
    out = {}
    for name in SPLITS:
        if name not in splits:
            raise DataError(f"{source}: split {name!r} missing")
        split = splits[name]
        _check_split(split, name, source, SPLITS[name] if full else None)
        order = sorted(range(len(split.filenames)), key=split.filenames.__getitem__)
        idx = np.asarray(order, dtype=np.int64)
        out[name] = Split(
            np.ascontiguousarray(split.images[idx]),
            np.ascontiguousarray(split.labels[idx]),
            tuple(split.filenames[i] for i in order),
        )
    return out


def remove_leftovers(root: Path) -> list[Path]:
    """Delete `.ROOT.*` folders that an interrupted fetch left beside `root`; returns them."""
    root = Path(root)
    stale = [p for p in root.parent.glob(f".{root.name}.*") if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def write_canonical(splits: dict[str, Split], root: Path, expected: str | None = None) -> None:
    """Write the canonical folder atomically: built beside `root`, checked, then swapped in.

    With `expected` (a DVC directory hash), a folder with another hash is refused and `root` is kept.
    """
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    tmp.chmod(0o755)
    try:
        for name, split in splits.items():
            np.save(tmp / f"{name}_images.npy", split.images, allow_pickle=False)
            np.save(tmp / f"{name}_labels.npy", split.labels, allow_pickle=False)
            (tmp / f"{name}_filenames.txt").write_text("".join(f"{n}\n" for n in split.filenames))
        (tmp / "classes.json").write_text(dumps_json({"classes": list(CLASSES)}))
        got = dvc_dir_hash(tmp) if expected else None
        if expected and got != expected:
            raise DataError(
                f"the new data has hash {got}, but data.dvc records {expected}: the pixels, labels or file "
                f"names differ from the committed dataset. {root}/ was left as it was. Use a copy of the "
                "official CIFAR-10, or pass --replace to use this data anyway (results will not be comparable)."
            )
        old = None
        if root.exists():
            old = root.with_name(f".{root.name}.old")
            if old.exists():
                shutil.rmtree(old)
            root.rename(old)
        tmp.rename(root)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def dvc_dir_hash(root: Path) -> str:
    """The md5 DVC records for a directory out: md5 of its sorted (relpath, md5) listing + '.dir'."""
    root = Path(root)
    entries = [
        {"md5": file_md5(p), "relpath": p.relative_to(root).as_posix()}
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def expected_hash(dvc_file: Path = DVC_FILE) -> str | None:
    """The directory hash recorded in data.dvc, or None when there is no data.dvc."""
    if not Path(dvc_file).exists():
        return None
    meta = yaml.safe_load(Path(dvc_file).read_text())
    return meta["outs"][0]["md5"]


def check(root: Path = DEFAULT_ROOT, dvc_file: Path = DVC_FILE) -> tuple[bool, str]:
    """Compare `root` with data.dvc; returns (matches, sentence for the user)."""
    root = Path(root)
    if not root.is_dir():
        return False, f"{root}/ is missing. {FETCH_HINT}"
    want = expected_hash(dvc_file)
    got = dvc_dir_hash(root)
    if want is None:
        return False, f"{root}/ has hash {got}; there is no {dvc_file} to compare with"
    if want == got:
        return True, f"{root}/ matches {dvc_file} ({got})"
    return False, (
        f"{root}/ does NOT match {dvc_file}: expected {want}, got {got}. The pixels, labels or "
        "file names differ from the committed dataset; results will not be comparable."
    )


# --------------------------------------------------------------------------- fetch


def download(url: str, md5: str, folder: Path) -> Path:
    """Download the archive with torchvision's utilities into `folder` and check its md5."""
    from torchvision.datasets.utils import download_url

    name = url.rsplit("/", 1)[-1] or ARCHIVE_NAME
    try:
        download_url(url, str(folder), filename=name, md5=None)
    except Exception as err:
        raise DataError(f"could not download {url} ({err}). Offline? {FETCH_HINT}") from err
    path = Path(folder) / name
    got = file_md5(path)
    if got != md5:
        raise DataError(
            f"{url}: downloaded file has md5 {got}, expected {md5}; the download is corrupt or "
            "not the official archive. Retry, or use --from with a copy you trust."
        )
    return path


def fetch(
    source: Path | None = None,
    root: Path = DEFAULT_ROOT,
    url: str = OFFICIAL_URL,
    md5: str | None = None,
    full: bool = True,
    replace: bool = False,
    dvc_file: Path = DVC_FILE,
) -> None:
    """Build the canonical `root` from `source` (or a download); nothing is replaced on error.

    `md5` checks an archive (a download is always checked, against the official md5 by default);
    unless `replace`, data whose hash differs from `dvc_file`'s is refused before it replaces `root`.
    """
    for path in remove_leftovers(root):
        print(f"removed {path}, left by an interrupted fetch")
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            archive = download(url, md5 or OFFICIAL_MD5, Path(tmp))
            splits = read_archive(archive)
            label = url
    else:
        source = Path(source)
        if md5 is not None:
            if not source.is_file():
                raise DataError(f"--md5 checks an archive file; {source} is a folder")
            got = file_md5(source)
            if got != md5:
                raise DataError(f"{source}: md5 is {got}, expected {md5} (--md5); the archive is not the one "
                                "you meant. Nothing was changed.")
        splits = read_source(source)
        label = str(source)
    expected = None if replace or not full else expected_hash(dvc_file)
    write_canonical(canonicalize(splits, label, full=full), root, expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="build data/ from a download or a local copy")
    f.add_argument("--from", dest="source", type=Path, help="archive, batches folder or PNG tree")
    f.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="canonical folder (default data)")
    f.add_argument("--url", default=OFFICIAL_URL, help=argparse.SUPPRESS)
    f.add_argument("--md5", default=None, help="expected md5 of the archive (default: the official one for "
                   "downloads, none for --from)")
    f.add_argument("--any-size", action="store_true", help="accept other sizes than 50,000/10,000")
    f.add_argument("--replace", action="store_true", help="replace data/ even if the result differs from data.dvc")
    c = sub.add_parser("check", help="compare data/ with data.dvc")
    c.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    e = sub.add_parser("ensure", help="download data/ if it is missing, then check it (make repro)")
    e.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args(argv)

    if args.command == "ensure" and not args.root.is_dir():
        print(f"{args.root}/ is missing; downloading the official archive")
        args.command, args.source, args.url, args.md5 = "fetch", None, OFFICIAL_URL, None
        args.any_size = args.replace = False
    if args.command == "fetch":
        start = time.perf_counter()
        try:
            fetch(args.source, args.root, args.url, args.md5, full=not args.any_size, replace=args.replace)
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            remove_leftovers(args.root)
            print(f"interrupted; {args.root}/ was left as it was", file=sys.stderr)
            return 130
        print(f"wrote {args.root}/ in {time.perf_counter() - start:.1f} s")
    ok, message = check(args.root)
    print(message, file=sys.stdout if ok else sys.stderr)
    if ok and args.command in ("fetch", "ensure") and args.root == DEFAULT_ROOT:
        into_dvc_cache()
    return 0 if ok or expected_hash() is None else 1


def into_dvc_cache(dvc_file: Path = DVC_FILE) -> None:
    """`dvc commit` the checked folder, so DVC has it in its cache (quietly skipped outside a DVC project)."""
    dvc = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    if not Path(".dvc").is_dir() or not Path(dvc).exists():
        return
    out = subprocess.run([dvc, "commit", "--force", "--quiet", str(dvc_file)], capture_output=True, text=True)
    if out.returncode == 0:
        print(f"cached in .dvc/cache (dvc commit {dvc_file}): dvc status and queued experiments can use it")
    else:
        print(f"warning: `dvc commit {dvc_file}` failed ({out.stderr.strip()}); run it yourself", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
