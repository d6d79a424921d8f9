"""Atomic, deterministic reading and writing of result files (JSON, CSV, .npy, bytes), and the guarded
reading of user input: regular files only, of bounded size; YAML without duplicate keys or alias bombs."""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from replication.core.errors import MissingResult, UserError

# Every name that becomes part of a path (runs, networks, targets, presets, seed groups, figures): no '/',
# no leading '.', so never '..' or a hidden file; lower case, so two names never share a path on a
# case-insensitive disk.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
MAX_YAML_NODES = 100_000  # params.yaml has about 1,500; an alias bomb expands to billions
# libyaml's parser where PyYAML was built with it (its wheels are): the same nodes and values, about 4x faster
# on dvc.lock's 40,000 lines, which `whatif` and the report read whole
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; use the usual mode
        _fsync(tmp_path)  # the bytes reach the disk before the name does: a crash leaves old or new
        os.replace(tmp_path, path)
        _fsync(path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


WRITE_ERRORS = {  # errno -> what went wrong and what to do (the old file, if any, is kept in every case)
    errno.EROFS: "the file system is read-only; run from a writable checkout",
    errno.EFBIG: "the file would exceed the file-size limit (`ulimit -f`, or the file system's); raise it and rerun",
    errno.ENAMETOOLONG: "the name is too long for this file system; use a shorter name or a shallower folder",
    errno.EISDIR: "a folder is in the way; move it aside and rerun",
    errno.ENOTDIR: "a file is in the way where a folder should be; move it aside and rerun",
    errno.EACCES: "permission denied; make the folder writable and rerun",
    errno.EPERM: "the operation is not permitted here; make the folder writable and rerun",
    errno.EIO: "an input/output error (the disk or network file system failed); check it and rerun",
}


def write_error(path: Path, err: OSError) -> UserError:
    """The one-line error for a failed write of `path`: a full disk, or one of WRITE_ERRORS by errno; any other
    errno is still named, with the file."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(path)
    why = WRITE_ERRORS.get(err.errno, f"{err.strerror or type(err).__name__}; check the folder and rerun")
    return UserError(f"{path}: could not write it ({errno.errorcode.get(err.errno, 'error')}): {why}; nothing "
                     "was half-written (the old file, if any, is intact)")


def disk_full(path: Path) -> UserError:
    """The one-line error for a full disk while writing `path` (whose old version, if any, was kept)."""
    free = shutil.disk_usage(Path(path).parent).free
    return UserError(f"{path}: the disk is full ({free / 2**20:.0f} MB free on {Path(path).parent.resolve()}); "
                     "nothing was half-written (the old file, if any, is intact). Free some space and rerun")


def swap_in(staging: Path, out: Path) -> None:
    """Replace folder `out` by the finished folder `staging`: two renames, the old folder removed after."""
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    if out.exists():
        out.replace(old / out.name)
    try:
        staging.rename(out)
    except OSError:
        if (old / out.name).exists():  # put the old folder back where it was
            (old / out.name).replace(out)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def open_regular(path: str | Path, what: str, limit: int | None = None) -> Iterator[io.BufferedReader]:
    """Open a regular file for reading; a FIFO, socket or device (which could block forever) and a file
    over `limit` bytes are refused by name before anything is read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    except FileNotFoundError:
        raise MissingResult(f"{path}: no such file ({what})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot open {what} ({err.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "folder" if stat.S_ISDIR(info.st_mode) else "FIFO" if stat.S_ISFIFO(info.st_mode) else \
            "socket" if stat.S_ISSOCK(info.st_mode) else "device"
        raise UserError(f"{path}: is a {kind}, not a regular file; {what} must be a regular file")
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise UserError(f"{path}: {info.st_size:,} bytes, more than the {limit:,} that {what} can be; "
                        "is it the right file?")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as f:
        yield f


def read_regular(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see open_regular)."""
    with open_regular(path, what, limit) as f:
        return f.read(limit + 1)


def load_yaml(text: str, source: str) -> Any:
    """YAML (safe types only) without duplicate keys, recursive aliases or an expansion past MAX_YAML_NODES
    nodes; any problem is one line naming `source`."""
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise UserError(f"{source}: not valid YAML: {' '.join(str(err).split())}") from None
    except ValueError as err:  # an integer of thousands of digits
        raise UserError(f"{source}: not valid YAML ({' '.join(str(err).split())[:120]})") from None
    except RecursionError:
        raise UserError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Count the nodes of the document as the aliases expand it (each shared node once per use), without
    expanding it, and refuse duplicate mapping keys."""
    sizes: dict[int, int | None] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            if sizes[id(node)] is None:
                raise UserError(f"{source}: a YAML alias refers to the node that holds it (a recursive alias)")
            return sizes[id(node)]
        sizes[id(node)] = None
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise UserError(f"{source}: duplicate key {key.value[:60]!r} (line {key.start_mark.line + 1}); "
                                        "YAML keeps only the last one, so say it once")
                    seen.add(key.value)
                total += size(key) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        if total > MAX_YAML_NODES:
            raise UserError(f"{source}: the YAML expands to more than {MAX_YAML_NODES:,} values (aliases "
                            "repeated inside aliases?); write the values out")
        sizes[id(node)] = total
        return total

    size(root)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an advisory lock on `path` while `what` runs; a second holder fails naming the first.

    The kernel releases the lock when the process ends, however it ends, so a killed run never
    leaves a stale lock behind.
    """
    try:  # never through a link: the pid would be written over whatever the link names
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UserError(f"{path}: the lock file is a symbolic link; remove it (`rm {path}`) and rerun") from None
        why = WRITE_ERRORS.get(err.errno, f"{err.strerror or type(err).__name__}; check the folder and rerun")
        raise UserError(f"{path}: cannot open the lock file ({errno.errorcode.get(err.errno, 'error')}): {why}; "
                        "nothing was started") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path}: the lock file is not a regular file; remove it and rerun")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(f"{what} is already running (pid {other}; lock {path}). Wait for it, or stop it "
                            f"with `kill -TERM {other}`, then rerun: it resumes where the other one stopped") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8) atomically."""
    write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays as plain Python values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, indented, trailing newline; NaN and infinities as null (bare NaN is not
    JSON, and other readers refuse it)."""
    return json.dumps(_finite(to_jsonable(obj)), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    """Write deterministic JSON atomically."""
    write_text(path, dumps_json(obj))


def read_json(path: str | Path) -> Any:
    """Read JSON, naming the file when it is missing or broken."""
    path = Path(path)
    if not path.exists():
        raise MissingResult(f"{path}: missing; run the stage that writes it (dvc repro)")
    try:
        return json.loads(read_regular(path, MAX_RESULT_BYTES, "a JSON result"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = " ".join(str(err).split())[:120] if not isinstance(err, RecursionError) else "nested too deeply"
        raise UserError(f"{path}: not valid JSON ({reason}); delete it and rerun its stage") from None


MAX_RESULT_BYTES = 256 << 20  # the largest result file is a few MB


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Write rows as CSV atomically, floats in repr form."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: to_jsonable(row[c]) for c in columns})
    write_text(path, buf.getvalue())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts of strings."""
    if not Path(path).exists():
        raise MissingResult(f"{path}: missing; run the stage that writes it (dvc repro)")
    text = read_regular(path, MAX_RESULT_BYTES, "a CSV result").decode("utf-8", errors="replace")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """Save a .npy file atomically (the format is deterministic for a given array)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def file_md5(path: str | Path) -> str:
    """md5 of a regular file's bytes (a FIFO or device is refused by name, not waited on)."""
    with open_regular(path, "a file to hash") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def recorded_md5(dvc_file: str | Path) -> str | None:
    """The md5 a .dvc file records for its one output (data.dvc: the data folder's hash), None without the file."""
    dvc_file = Path(dvc_file)
    if not dvc_file.exists():
        return None
    try:
        return str(load_yaml(read_regular(dvc_file, 1 << 20, "a .dvc file").decode(), str(dvc_file))["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError, UnicodeDecodeError):
        raise UserError(f"{dvc_file}: not a .dvc file with one output and its md5; restore it with "
                        f"`git checkout {dvc_file}`") from None
