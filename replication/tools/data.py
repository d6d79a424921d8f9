"""The data tool: build the canonical CIFAR-10 folder from any source, and check it against data.dvc.

No stage imports this module (stages read data/ through replication.networks.dataset), so a change here never
reruns a training. The canonical folder holds, per split, uint8 images (N x 3 x 32 x 32), int64
labels and the original file names, rows sorted by file name, plus the class names. Sorting by name
makes the official archive, its extracted folder and a folder of PNGs give byte-identical files,
hence one DVC hash whatever the source. The readers (replication/tools/sources.py) check what they read
before they trust it.

    python -m replication.tools.data fetch                 # download the official archive (md5-checked)
    python -m replication.tools.data fetch --from PATH     # archive, cifar-10-batches-py folder or PNG tree
    python -m replication.tools.data check                 # compare data/ with data.dvc

A new folder is built beside data/ and checked against data.dvc before it replaces the old one
(`--replace` accepts data that differs). `--root` may name an absent or empty folder or a data folder
a fetch made, nothing else. A fetch holds `.ROOT.lock` while it works, so a second one waits for
nothing and stops; a `.ROOT.*` folder left by a killed fetch is removed by the next one, which can
tell it is dead because it holds the lock.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from replication.core.errors import UserError
from replication.core.files import disk_full, dumps_json, exclusive, file_md5, recorded_md5, swap_in
from replication.networks.dataset import CANONICAL_FILES, CLASSES, FETCH_HINT, OFFLINE_HINT, SPLITS, DataError
from replication.tools.sources import Split, check_split, read_archive, read_source

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
MAX_DATA_ENTRIES = 1_000  # files and folders a data folder to hash may hold (the canonical one has 7 files)
ARCHIVE_NAME = "cifar-10-python.tar.gz"
DEFAULT_ROOT = Path("data")
DVC_FILE = Path("data.dvc")
CANONICAL_NAMES = {f"{split}_{kind}" for split in SPLITS for kind in CANONICAL_FILES} | {"classes.json"}

# --------------------------------------------------------------------------- canonical form


def canonicalize(splits: dict[str, Split], source: str, full: bool = True) -> dict[str, Split]:
    """Validate each split and sort its rows by original file name."""
    out = {}
    for name in SPLITS:
        if name not in splits:
            raise DataError(f"{source}: split {name!r} missing")
        split = splits[name]
        check_split(split, name, source, SPLITS[name] if full else None)
        order = sorted(range(len(split.filenames)), key=split.filenames.__getitem__)
        idx = np.asarray(order, dtype=np.int64)
        out[name] = Split(
            np.ascontiguousarray(split.images[idx]),
            np.ascontiguousarray(split.labels[idx]),
            tuple(split.filenames[i] for i in order),
        )
    return out


def lock_of(root: Path) -> Path:
    """The lock every fetch into `root` holds: only one fetch builds a folder at a time."""
    return Path(root).with_name(f".{Path(root).name}.lock")


def check_root(root: Path) -> None:
    """`root` may be absent, an empty folder or a canonical data folder (recognised by its files); anything
    else (a results folder, a file, the README) is refused untouched."""
    root = Path(root)
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise DataError(f"--root {root}: is not a folder; give an absent or empty folder, or a data folder")
    if not root.exists():
        return
    names = {p.name for p in root.iterdir()}
    if names - CANONICAL_NAMES:
        extra = sorted(names - CANONICAL_NAMES)[0]
        raise DataError(f"--root {root}: holds {extra!r}, which no data folder holds, so fetch will not replace it; "
                        "give an absent or empty folder, or a folder a fetch made")


def remove_leftovers(root: Path) -> list[Path]:
    """Delete `.ROOT.*` folders that an interrupted fetch left beside `root`; returns them. Call it only
    while holding lock_of(root): then no live fetch is building them."""
    root = Path(root)
    stale = [p for p in root.parent.glob(f".{root.name}.*") if p.is_dir() and not p.is_symlink()]
    if not root.exists():  # a crash between swap_in's two renames: the backup holds the only copy; put it back
        backups = sorted(p / root.name for p in stale if p.name.startswith(f".{root.name}.old.")
                         and (p / root.name).is_dir())
        if backups:
            backups[-1].rename(root)
            print(f"restored {root}/ from {backups[-1].parent}, left by a fetch interrupted while swapping folders")
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
        try:
            for name, split in splits.items():
                np.save(tmp / f"{name}_images.npy", split.images, allow_pickle=False)
                np.save(tmp / f"{name}_labels.npy", split.labels, allow_pickle=False)
                (tmp / f"{name}_filenames.txt").write_text("".join(f"{n}\n" for n in split.filenames))
            (tmp / "classes.json").write_text(dumps_json({"classes": list(CLASSES)}))
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DataError(str(disk_full(root)).replace("the old file", f"{root}/")) from None
            raise
        got = dvc_dir_hash(tmp) if expected else None
        if expected and got != expected:
            raise DataError(
                f"the new data has hash {got}, but data.dvc records {expected}: the pixels, labels or file "
                f"names differ from the committed dataset. {root}/ was left as it was. Use a copy of the "
                "official CIFAR-10, or pass --replace to use this data anyway (results will not be comparable)."
            )
        swap_in(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def dvc_dir_hash(root: Path) -> str:
    """The md5 DVC records for a directory out: md5 of its sorted (relpath, md5) listing + '.dir'."""
    root = Path(root)
    found = []
    for count, p in enumerate(root.rglob("*"), start=1):  # stops early in a folder that is not data
        if count > MAX_DATA_ENTRIES:
            raise DataError(f"{root}/ holds more than {MAX_DATA_ENTRIES:,} entries; the canonical data/ holds "
                            f"{len(SPLITS) * len(CANONICAL_FILES) + 1} files. Is it the right folder (--root)?")
        if p.is_file():
            found.append(p)
    entries = [{"md5": file_md5(p), "relpath": p.relative_to(root).as_posix()} for p in sorted(found)]
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def expected_hash(dvc_file: Path = DVC_FILE) -> str | None:
    """The directory hash recorded in data.dvc, or None when there is no data.dvc."""
    try:
        return recorded_md5(dvc_file)
    except UserError as err:
        raise DataError(str(err)) from None


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
        raise DataError(f"could not download {url} ({err}). Offline? {OFFLINE_HINT}") from err
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
    check_root(root)
    Path(root).parent.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive(lock_of(root), f"a fetch into {root}/"):
            for path in remove_leftovers(root):
                print(f"removed {path}, left by an interrupted fetch")
            _fetch(source, root, url, md5, full, replace, dvc_file)
    except UserError as err:
        raise DataError(str(err)) from None


def _fetch(source: Path | None, root: Path, url: str, md5: str | None, full: bool, replace: bool,
           dvc_file: Path) -> None:
    """fetch's work, under the lock of `root`."""
    if source is None and not replace and full and Path(root).is_dir():
        ok, _ = check(root, dvc_file)
        if ok:  # nothing a download could improve
            print(f"{root}/ already matches {dvc_file}; nothing to download")
            return
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            archive = download(url, md5 or OFFICIAL_MD5, Path(tmp))
            splits = read_archive(archive)
            label = url
    else:
        source = Path(source)
        if md5 is not None:
            if source.is_dir():
                raise DataError(f"--md5 checks an archive file; {source} is a folder")
            got = file_md5(source)  # a FIFO or device is named as such by open_regular
            if got != md5:
                raise DataError(f"{source}: md5 is {got}, expected {md5} (--md5); the archive is not the one "
                                "you meant. Nothing was changed.")
        splits = read_source(source)
        label = str(source)
    expected = None if replace or not full else expected_hash(dvc_file)
    write_canonical(canonicalize(splits, label, full=full), root, expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replication.tools.data", description=__doc__.split("\n")[0])
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
        except KeyboardInterrupt:  # the staging folder went with the unwinding (write_canonical's finally)
            print(f"interrupted; {args.root}/ was left as it was", file=sys.stderr)
            return 130
        print(f"wrote {args.root}/ in {time.perf_counter() - start:.1f} s")
    try:
        ok, message = check(args.root)
    except UserError as err:  # a broken data.dvc, a folder that is not data
        print(f"error: {err}", file=sys.stderr)
        return 1
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
