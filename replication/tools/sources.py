"""Readers of CIFAR-10 as it comes: the official archive, its extracted python batches, or a tree of PNGs.

Each reader returns the splits as arrays and checks what it reads before it trusts it: only regular
files, of bounded size; pickles through an unpickler that can build only numpy arrays and plain
containers (a crafted file cannot run code), whose contents are type-checked before numpy converts
them; PNG headers (signature, 32x32, 8-bit RGB) before any pixel is decoded; archive members read in
memory, only the seven batch files, within a size bound declared by the headers. File names with
control characters are refused (one name per line is how the canonical folder stores them).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from replication.core.errors import MissingResult, UserError
from replication.core.files import open_regular
from replication.networks.dataset import CLASSES, FETCH_HINT, SPLITS, DataError

BATCH_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
BATCH_NAMES = ("batches.meta", *BATCH_FILES["train"], *BATCH_FILES["test"])  # every file of the python layout
# Bounds checked before the work: an official batch is 31 MB, the archive 178 MB unpacked, an image 32x32.
MAX_BATCH_BYTES = 64 << 20
MAX_ARCHIVE_BYTES = 512 << 20  # sum of the member sizes the archive declares, read from the headers
MAX_PNG_BYTES = 64 << 10
MAX_ARCHIVE_MEMBERS = 10_000  # the official archive has 9 (a folder, seven batches, a readme)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 appear as \\xNN escapes (the bytes on disk), not as
    U+FFFD or a lone surrogate."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _text(path: Path, key: str, index: int, value: bytes | str) -> str:
    """A name stored in a batch (`filenames`, `label_names`) as text; a name that is not UTF-8 is refused with its
    bytes shown, where decoding with replacement would change the name silently."""
    raw = value
    if isinstance(value, str):  # a str pickled from a bytes name keeps its bad bytes as lone surrogates
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeError:
            raw = value.encode("utf-8", "surrogatepass")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{shown(path)}: '{key}' entry {index} is not UTF-8 text ({raw[:60]!r}); CIFAR-10's names "
                        "are ASCII: rebuild the batch with UTF-8 names") from None


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, N x 3 x 32 x 32
    labels: np.ndarray  # int64, N
    filenames: tuple[str, ...]


# --------------------------------------------------------------------------- readers


def check_split(split: Split, name: str, source: str, expected: int | None) -> None:
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
    bad_name = next((f for f in split.filenames if CONTROL.search(f)), None)
    if bad_name is not None:
        raise DataError(f"{source}: {name} file name {bad_name[:60]!r} holds a control character (a newline would "
                        "shift every later line of the names file); rename it")
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


def _unpickle(path: Path, content: bytes | None = None) -> dict:
    """A CIFAR-10 pickle from `path` (a regular file of at most MAX_BATCH_BYTES), or from `content` read
    from an archive member of that name."""
    if content is None:
        try:
            with open_regular(path, "a CIFAR-10 batch", MAX_BATCH_BYTES) as f:
                content = f.read()
        except MissingResult:
            raise DataError(f"{path}: missing; a cifar-10-batches-py folder has {', '.join(BATCH_NAMES)}") from None
        except UserError as err:
            raise DataError(str(err)) from None
    try:
        raw = _SafeUnpickler(io.BytesIO(content), encoding="bytes").load()
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    except MemoryError:
        raise DataError(f"{path}: the pickle asks for more memory than a CIFAR-10 batch needs") from None
    except Exception as err:  # truncated or corrupt files raise many different types
        reason = " ".join(str(err).split())[:120]
        raise DataError(f"{path}: not a readable CIFAR-10 pickle ({type(err).__name__}: {reason})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(raw).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def read_batches_folder(folder: Path, contents: dict[str, bytes] | None = None) -> dict[str, Split]:
    """Read the official python layout (data_batch_1..5, test_batch, batches.meta), from the folder or
    from `contents` (file name -> bytes, as read from an archive)."""
    folder = Path(folder)
    contents = contents or {}
    meta = _unpickle(folder / "batches.meta", contents.get("batches.meta"))
    label_names = meta.get("label_names", [])
    if not isinstance(label_names, list) or len(label_names) != len(CLASSES):
        raise DataError(f"{folder / 'batches.meta'}: label_names must list CIFAR-10's {len(CLASSES)} classes")
    names = [_text(folder / "batches.meta", "label_names", i, n) for i, n in enumerate(label_names)]
    if tuple(names) != CLASSES:
        raise DataError(f"{folder / 'batches.meta'}: label_names {names} are not CIFAR-10's {CLASSES}")
    splits = {}
    for split, files in BATCH_FILES.items():
        images, labels, filenames = [], [], []
        for name in files:
            path = folder / name
            batch = _unpickle(path, contents.get(name))
            for key in ("data", "labels", "filenames"):
                if key not in batch:
                    raise DataError(f"{path}: key '{key}' missing")
            _check_batch_types(path, batch)
            images.append(batch["data"].reshape(-1, 3, 32, 32))  # _check_batch_types: one integer label per row
            labels.append(np.asarray(batch["labels"], dtype=np.int64))
            filenames += [_text(path, "filenames", i, f) for i, f in enumerate(batch["filenames"])]
        splits[split] = Split(np.concatenate(images), np.concatenate(labels), tuple(filenames))
    return splits


def _check_batch_types(path: Path, batch: dict) -> None:
    """The types the official batches hold, checked before numpy converts anything (a nested list could
    expand to gigabytes): data an ndarray, labels a list of ints, filenames a list of bytes or str."""
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' is a {type(data).__name__}; expected a uint8 numpy array")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:  # a 0-d array is named here, as data
        raise DataError(f"{path}: 'data' has shape {data.shape} and dtype {data.dtype}; expected (rows, 3072) uint8")
    rows = data.shape[0]
    wants = {"labels": "integer class indices", "filenames": "file names (bytes or str)"}
    for key, types in (("labels", (int,)), ("filenames", (bytes, str))):
        values = batch[key]
        if not isinstance(values, (list, np.ndarray)) or len(values) != rows:
            raise DataError(f"{path}: '{key}' must be a list of {rows} values, one per image row")
        if isinstance(values, np.ndarray):
            ok = values.ndim == 1 and (np.issubdtype(values.dtype, np.integer) if key == "labels" else False)
        else:
            ok = all(isinstance(v, types) and not isinstance(v, bool) for v in values)
        if not ok:
            raise DataError(f"{path}: '{key}' must be a list of {wants[key]}")


def read_png_tree(folder: Path) -> dict[str, Split]:
    """Read train/<class>/*.png and test/<class>/*.png (8-bit RGB, 32x32)."""
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
            for png in sorted(p for p in class_dir.iterdir() if p.suffix.lower() == ".png"):
                images.append(read_png(png))
                labels.append(label)
                filenames.append(png.name)
        if not images:
            raise DataError(f"{folder / split}: no PNG images found")
        splits[split] = Split(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(filenames))
    return splits


def read_png(png: Path) -> np.ndarray:
    """One 8-bit RGB 32x32 PNG as a 3 x 32 x 32 uint8 array; the header (signature, size, bit depth, colour
    type) is checked before any pixel is decoded, so a huge, 16-bit or disguised image is refused unread."""
    if CONTROL.search(png.name):
        raise DataError(f"{shown(png.parent / png.name.encode('unicode_escape').decode())}: the file name holds a "
                        "control character; rename it")
    try:
        png.name.encode("utf-8")
    except UnicodeError:  # bytes that are not UTF-8 arrive as lone surrogates: shown as the bytes they were
        raise DataError(f"{shown(png)}: the file name is not UTF-8 text; rename it") from None
    with open_regular(png, "a PNG image", MAX_PNG_BYTES) as f:
        content = f.read()
    if not content.startswith(PNG_SIGNATURE) or content[12:16] != b"IHDR":
        kind = "JPEG" if content.startswith(b"\xff\xd8\xff") else "not PNG"
        raise DataError(f"{png}: its content is {kind}, not a PNG image; convert it to an 8-bit RGB PNG")
    width, height = int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    depth, colour = content[24], content[25]
    if (width, height) != (32, 32) or depth != 8 or colour != 2:
        kinds = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
        raise DataError(f"{png}: image is {depth}-bit {kinds.get(colour, 'unknown')} {width}x{height}; expected "
                        "8-bit RGB 32x32")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content), formats=["PNG"]) as img:
            array = np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
    except Exception as err:
        raise DataError(f"{png}: not a readable PNG ({' '.join(str(err).split())[:120]})") from None
    return array.transpose(2, 0, 1)


def read_archive(path: Path) -> dict[str, Split]:
    """Read the official cifar-10-python.tar.gz (or any tar holding that folder). Only the seven batch
    files are read, each within MAX_BATCH_BYTES, and nothing is written to disk; an archive that declares
    more than MAX_ARCHIVE_BYTES is refused before its members are unpacked."""
    path = Path(path)
    wanted = set(BATCH_NAMES)
    contents: dict[str, bytes] = {}
    folders = set()
    total = 0
    try:
        with open_regular(path, "an archive") as f, tarfile.open(fileobj=f, mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise DataError(f"{path}: the archive holds more than {MAX_ARCHIVE_MEMBERS:,} members; "
                                    "CIFAR-10's holds 9. Is it the right archive?")
                total += max(member.size, 0)
                if total > MAX_ARCHIVE_BYTES:
                    raise DataError(f"{path}: the archive holds more than {MAX_ARCHIVE_BYTES >> 20} MB; CIFAR-10's "
                                    "is 178 MB unpacked. Is it the right archive?")
                name = member.name.rsplit("/", 1)[-1]
                if name not in wanted or not member.isfile():
                    continue
                if member.size > MAX_BATCH_BYTES:
                    raise DataError(f"{path}: member {member.name[:80]!r} is {member.size:,} bytes; a CIFAR-10 batch "
                                    f"is at most {MAX_BATCH_BYTES:,}")
                folders.add(member.name.rsplit("/", 1)[0] if "/" in member.name else "")
                contents[name] = tar.extractfile(member).read()
    except DataError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise DataError(f"{path}: not a readable tar archive ({' '.join(str(err).split())[:120]})") from None
    if len(folders) != 1:
        raise DataError(f"{path}: expected one cifar-10-batches-py folder inside, found {len(folders)}")
    if "batches.meta" not in contents:
        raise DataError(f"{path}: the archive's {next(iter(folders)) or 'top'} folder has no batches.meta; a "
                        "cifar-10-batches-py folder has it beside the batches")
    missing = [name for name in BATCH_NAMES if name not in contents]
    if missing:  # named here: read_batches_folder would look for it on disk, inside the archive's path
        raise DataError(f"{path}: the archive has no {missing[0]}; a cifar-10-batches-py folder has "
                        f"{', '.join(BATCH_NAMES)}")
    return read_batches_folder(path / folders.pop(), contents)


def read_source(path: Path) -> dict[str, Split]:
    """Read any supported source: an archive, a batches folder or a PNG tree."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. {FETCH_HINT}")
    if not path.is_dir():
        return read_archive(path)  # refuses a FIFO, socket or device by name
    if (path / "batches.meta").exists() or (path / "data_batch_1").exists():
        return read_batches_folder(path)
    if (path / "train").is_dir() or (path / "test").is_dir():
        return read_png_tree(path)
    raise DataError(
        f"{path}: neither a cifar-10-batches-py folder (batches.meta, data_batch_*) nor a PNG tree "
        "(train/<class>/*.png, test/<class>/*.png)"
    )
