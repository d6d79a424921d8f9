"""The smoothness estimator's settings: every choice that moves alpha, and the named presets.

Settings only (no numerics, no sklearn): params.yaml validation and the wavelets module both use it.
"""

from __future__ import annotations

import reprlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from replication.errors import UserError

MAX_INT = 2**31 - 1  # every count fits a C int (sklearn's trees and torch's sizes use them)
MAX_TREES = 1000  # 100 times the original's 10: about 100 h per layer on 2 cores under as_run; more is a typo
Count = Annotated[int, Field(ge=1, le=MAX_INT)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # numpy and sklearn seeds are 32-bit


class EstimatorError(UserError):
    """Input the estimator cannot use; the message says which and what to do."""


class Estimator(BaseModel):
    """Random-forest geometric-wavelet estimator settings (see PRESETS for named combinations)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    n_trees: Annotated[int, Field(ge=1, le=MAX_TREES)] = 10  # trees in the forest
    max_features: str = "all"  # candidates per split: "all", "sqrt" or a fraction such as "0.5"
    max_depth: Annotated[int, Field(ge=0, le=MAX_INT)] = 0  # 0 = grow until leaves are pure
    bootstrap: bool = True  # bootstrap sample of N rows per tree (sklearn's default)
    seed: Seed = 21  # forest random_state
    drop_last_label: bool = True  # one-hot labels without the last column (class 9 = zero vector)
    root_bug: bool = True  # the original's norm |C - 2 C_root| for the two children of each root
    norm: Literal["volume", "empirical"] = "volume"  # box volume in the unit cube, or sample fraction
    m_start: Count = 2  # first M of the grid
    m_stop: Count = 1000  # grid end (exclusive)
    m_step: Count = 10  # grid step
    x_offset: Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)] = -1  # abscissa = M + x_offset (the original logged M - 1)
    error: Literal["squared", "l2"] = "squared"  # fit the mean squared residual norm, or its root

    @field_validator("max_features")
    @classmethod
    def _max_features(cls, value: str) -> str:
        max_features_arg(value)
        return value

    @model_validator(mode="after")
    def _grid(self) -> Estimator:
        if self.m_stop <= self.m_start:
            raise ValueError(f"m_stop ({self.m_stop}) must be larger than m_start ({self.m_start})")
        if self.m_start + self.x_offset < 1:
            raise ValueError(f"m_start + x_offset is {self.m_start + self.x_offset}; the abscissa is logged, "
                             "so it must be at least 1")
        return self


def max_features_arg(value: str) -> str | float | None:
    """sklearn's max_features for a setting: None (all), 'sqrt' or a fraction in (0, 1]."""
    if value == "all":
        return None
    if value == "sqrt":
        return "sqrt"
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0 < fraction <= 1:
        raise ValueError(f"max_features must be 'all', 'sqrt' or a fraction in (0, 1], got {value!r}")
    return fraction


PRESETS: dict[str, Estimator] = {
    # The original code's behaviour: all features per split ('auto' meant all for regressors).
    "as_run": Estimator(max_features="all"),
    # The same with sqrt(features) per split, as the report states; the pipeline default.
    "as_reported": Estimator(max_features="sqrt"),
    # Quirks fixed: true root-children norms, all 10 label columns, x = M, alpha of the L2 error.
    "corrected": Estimator(
        max_features="sqrt", drop_last_label=False, root_bug=False, x_offset=0, error="l2"
    ),
    # corrected, with norms weighted by the fraction of samples in a node instead of its volume.
    "corrected_empirical": Estimator(
        max_features="sqrt", drop_last_label=False, root_bug=False, x_offset=0, error="l2",
        norm="empirical",
    ),
}
PresetName = Literal[tuple(PRESETS)]  # the one table of preset names


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
            clauses.append(f"{where}{e['msg'].removeprefix('Value error, ')}{got}")
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


def estimator(preset: str, overrides: dict[str, Any] | None = None) -> Estimator:
    """The named preset with `overrides` applied; unknown names, fields or values fail clearly."""
    if preset not in PRESETS:
        raise EstimatorError(f"unknown estimator preset {preset!r}; known: {', '.join(PRESETS)}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(Estimator.model_fields))
    if unknown:
        fields = ", ".join(Estimator.model_fields)
        raise EstimatorError(f"unknown estimator field {short(unknown[0])}; fields: {fields}")
    try:
        return Estimator.model_validate({**PRESETS[preset].model_dump(), **overrides})
    except ValidationError as err:
        raise EstimatorError(f"estimator settings: {describe_errors(err)}") from None
