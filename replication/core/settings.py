"""params.yaml read into frozen, validated settings: the shared machinery and the sections every stage reads.

Each floor of the project validates the sections it uses (replication/networks/settings.py: base, data, train,
networks, runs; replication/estimator/settings.py adds smoothness and mislabel; replication/analysis/settings.py
overfit, suggest and claims; replication/report/settings.py report), so a stage depends on its own settings
only. Loading checks every key: an unknown, missing or mistyped key, a size that is not positive or a choice
outside its table fails with the file, the dotted key, the value and what is allowed, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, field_validator

from replication.core.errors import ConfigError, UserError
from replication.core.files import NAME_PATTERN, load_yaml, read_regular

PARAMS_FILE = Path("params.yaml")
MAX_PARAMS_BYTES = 1 << 20  # params.yaml is about 15 KB

# Every integer is bounded (numpy, torch and sklearn take 64-bit or smaller integers; seeds below 2**32);
# floats are finite (Section forbids NaN and infinity).
MAX_INT = 2**31 - 1  # every count fits a C int (sklearn's trees and torch's sizes use them)
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # numpy and sklearn seeds are 32-bit
Positive = Annotated[int, Strict(), Field(ge=1, le=MAX_INT)]
NonNegative = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]  # 0 means "all" or "default" where a comment says so
Float = Annotated[float, Strict()]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Str = Annotated[str, Strict(), StringConstraints(max_length=500)]
# A name that becomes part of a result path (runs, networks, targets, presets, figures): one pattern
Name = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN, max_length=64)]
MAX_THREADS = 1024  # torch starts this many threads; more is a typo
Bool = Annotated[bool, Strict()]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Sections(Section):
    """The top level of params.yaml as one floor sees it: its own sections checked, the later floors' left to
    them (the report's settings, the last floor, refuse a section nobody reads)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class BaseConfig(Section):
    device: Literal["auto", "cpu", "cuda"]  # "auto" = CUDA when present
    threads: Annotated[int, Strict(), Field(ge=0, le=MAX_THREADS)]  # torch CPU threads; 0 = torch's default
    deterministic: Bool  # deterministic algorithms (CPU results are bit-identical run to run)
    channels_last: Bool  # NHWC memory layout for convs (faster on CPU; measured in bench/)


class DataConfig(Section):
    root: Str  # folder with the canonical CIFAR-10 arrays (tracked by data.dvc)
    val_size: Positive  # validation images taken from the 50,000 training images
    split_seed: Seed  # seed of the train/validation permutation
    mean: tuple[Float, ...]  # per-channel mean subtracted from images in [0, 1] (3 values)
    std: tuple[Float, ...]  # per-channel divisor (the original used 1, i.e. no scaling)
    limit_train: NonNegative  # 0 = all training images; >0 keeps the first N (tiny test runs)
    limit_test: NonNegative  # 0 = all test images

    @field_validator("mean", "std")
    @classmethod
    def _per_channel(cls, values: tuple[float, ...], info) -> tuple[float, ...]:
        if len(values) != 3:
            raise ValueError(f"must hold 3 values, one per colour channel, not {len(values)}")
        if info.field_name == "std" and min(values) <= 0:
            raise ValueError("every std must be positive (images are divided by it)")
        return values


def describe_errors(err: ValidationError, prefix: str = "") -> str:
    """A pydantic error as one clause per problem: the key, what is allowed, what was given."""
    clauses = []
    for e in err.errors():
        # escaped, so a key holding a newline or a control character still gives one line
        key = ".".join(str(part) for part in (prefix, *e["loc"]) if part != "").encode("unicode_escape").decode()
        given = e["input"] if not isinstance(e["input"], dict) else None
        got = f" (got {short(given)})" if given is not None or e["type"] == "none_required" else ""
        if e["type"] == "string_pattern_mismatch":
            clauses.append(f"name {short(given)} at '{key}' must match {e['ctx']['pattern']} (lower-case letters, "
                           "digits, '_', '.', '-'; it becomes part of a file path)")
        elif e["type"] == "extra_forbidden":
            clauses.append(f"unknown key '{key}'")
        elif e["type"] == "missing":
            clauses.append(f"missing key '{key}'")
        elif e["type"] == "value_error":
            where = f"key '{key}': " if key else ""
            msg = e["msg"].removeprefix("Value error, ")
            clauses.append(f"{where}{msg}{'' if given is not None and short(given) in msg else got}")  # said once
        else:
            clauses.append(f"key '{key}' {e['msg'].replace('Input should be', 'must be')}{got}")
    return "; ".join(clauses)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 4, 40, 40


def short(value: Any) -> str:
    """A value's repr cut to a few dozen characters: a huge or deeply nested value never floods a message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _SHORT.repr(value)


def lookup(table: dict, name: str, where: str):
    """table[name], or a ConfigError listing the known names of `where`."""
    if name not in table:
        raise ConfigError(f"unknown name {name!r} in {where}; known: {', '.join(sorted(table))}")
    return table[name]


def need(source: str, name: str, table: dict, key: str, where: str) -> None:
    """A name that points into another section must exist there."""
    if name not in table:
        raise ConfigError(f"{source}: {key} is {name!r}, which is not in {where} ({', '.join(table)})")


def read(path: str | Path = PARAMS_FILE) -> dict:
    """params.yaml as a mapping (a regular file of bounded size; YAML without duplicate keys or alias bombs)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found; run from the repository root")
    try:
        raw = load_yaml(read_regular(path, MAX_PARAMS_BYTES, "a params file").decode("utf-8"), str(path))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except UserError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


S = TypeVar("S", bound=Sections)


def validate(model: type[S], raw: Any, source: str) -> S:
    """`raw` as `model`, or one ConfigError line naming every bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        hint = ""
        if any(e["type"] == "float_type" and isinstance(e["input"], str) for e in err.errors()):
            hint = " (YAML reads 5e-4 as a string: write 5.0e-4)"
        raise ConfigError(f"{source}: {describe_errors(err)}{hint}") from None
