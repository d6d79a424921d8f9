"""Atomic, deterministic reading and writing of result files (JSON, CSV, .npy, bytes)."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from replication.errors import MissingResult, UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; use the usual mode
        _fsync(tmp_path)  # the bytes reach the disk before the name does: a crash leaves old or new
        os.replace(tmp_path, path)
        _fsync(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
    """Deterministic JSON: sorted keys, indented, trailing newline."""
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Write deterministic JSON atomically."""
    write_text(path, dumps_json(obj))


def read_json(path: str | Path) -> Any:
    """Read JSON, naming the file when it is missing or broken."""
    path = Path(path)
    if not path.exists():
        raise MissingResult(f"{path}: missing; run the stage that writes it (dvc repro)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err}); delete it and rerun its stage") from err


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
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """Save a .npy file atomically (the format is deterministic for a given array)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
