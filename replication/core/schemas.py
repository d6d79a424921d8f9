"""What a result file must hold before a stage trusts it: the fields every reader uses, with their types and
ranges, checked after the file parses (as params.yaml is). Other fields pass through unchecked.

`check(path, data, stage)` picks the schema from the file's place in the layout (registry.need calls it for
every result it reads): a train run's metrics.json and history.csv, a smoothness stage's alphas.json and a
preset's input.json, a mislabel rate's JSON, a target's pointer. A value that does not fit ends in one line
naming the file, the field and the stage that rewrites it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from replication.core.errors import UserError

MAX_EPOCHS = 100_000
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # a JSON number (an int is fine), never "high"
Count = Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]
Epoch = Annotated[int, Strict(), Field(ge=0, le=MAX_EPOCHS)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TrainMetrics(_Open):
    test_accuracy: Fraction
    restored_epoch: Epoch
    epochs_run: Annotated[int, Strict(), Field(ge=1, le=MAX_EPOCHS)]


class HistoryRow(_Open):  # a CSV row: text, converted
    epoch: Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
    train_loss: float
    val_loss: float
    val_accuracy: Annotated[float, Field(ge=0.0, le=1.0)]


class AlphaRow(_Open):
    layer: Annotated[str, Strict(), Field(min_length=1, max_length=200)]
    alpha: Number


class Alphas(_Open):
    layers: Annotated[list[AlphaRow], Field(min_length=1)]


class InputAlpha(_Open):
    row: AlphaRow


class Mislabel(_Open):
    rate: Fraction
    alpha_mean: Number
    alpha_std: Annotated[float, Strict(), Field(ge=0.0, allow_inf_nan=False)]
    seeds: Annotated[list[dict], Field(min_length=1)]


class Target(_Open):
    run: Annotated[str, Strict(), Field(min_length=1)]
    weights: Annotated[str, Strict(), Field(pattern="^(final|snapshot)$")]
    weights_md5: Annotated[str, Strict(), Field(pattern="^[0-9a-f]{32}$")]


# (pattern of the path under results/, schema); the first match wins, a path none matches is not checked
SCHEMAS: tuple[tuple[str, type[BaseModel]], ...] = (
    (r"results/train/[^/]+/metrics\.json", TrainMetrics),
    (r"results/smoothness/[^/]+/input\.json", InputAlpha),
    (r"results/smoothness/[^/]+/[^/]+/alphas\.json", Alphas),
    (r"results/mislabel/[^/]+/[^/]+/[^/]+\.json", Mislabel),
    (r"results/targets/[^/]+\.json", Target),
)


def schema_of(path: str) -> type[BaseModel] | None:
    return next((model for pattern, model in SCHEMAS if re.fullmatch(pattern, path)), None)


def _first_problem(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "the file"
    value = repr(e.get("input"))[:40] if e["type"] != "missing" else None
    return f"{where}: {e['msg'].lower()}" + (f" (got {value})" if value else "")


def check(path: str, data: Any, stage: str) -> Any:
    """`data` (parsed from results file `path`, given relative to the project) when it fits its schema;
    a UserError naming the file, the field and `stage` otherwise. CSV files are checked row by row."""
    path = path.replace("\\", "/")
    fix = f"rerun `dvc repro -f {stage}` to rewrite it"
    if re.fullmatch(r"results/train/[^/]+/history\.csv", path):
        if not data:
            raise UserError(f"{path}: no epochs; {fix}")
        for i, row in enumerate(data, start=2):  # line 1 is the header
            try:
                HistoryRow.model_validate(row)
            except ValidationError as err:
                raise UserError(f"{path}, line {i}: {_first_problem(err)}; {fix}") from None
        return data
    model = schema_of(path)
    if model is None:
        return data
    if not isinstance(data, dict):
        raise UserError(f"{path}: holds a {type(data).__name__}, not a mapping; {fix}")
    try:
        model.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{path}: {_first_problem(err)}; {fix}") from None
    return data
