"""What every claim is made of: the row of the claim table, the claim's declaration, and the evidence it reads.

A claim's `measure` returns a finding (a dict: `items`, each one network, step or layer with its effect, noise and
z; the claim's own `effect`, `noise` and `z`; and the numbers its evidence prints) or, where these results cannot
judge it, the reason in words. The registry (claims/__init__.py) turns findings into rows of the claim table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from replication.analysis import settings as cfg
from replication.analysis.zscore import INCONCLUSIVE, weakest, z_of, z_verdict

if TYPE_CHECKING:  # annotations only
    from replication.analysis.results import Results

WHOLE = "claim"  # the item of the row that carries a claim's verdict; the other rows are its items


@dataclass(frozen=True)
class Row:
    """One row of the claim table (results/claims.csv): a claim's verdict (item WHOLE) or one of its items, under
    one estimator preset. `effect` is in `unit`, positive the way the original claims; `noise` is the effect's
    own noise in the same unit; z = effect / noise decides the verdict; `note` says why a row has no z."""
    claim: str
    preset: str
    item: str
    effect: float | None
    noise: float | None
    z: float | None
    verdict: str
    unit: str
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


COLUMNS = tuple(Row.__dataclass_fields__)


@dataclass(frozen=True)
class Evidence:
    """What every claim is measured from: params, one preset's view of the results, the original's numbers."""
    params: cfg.Params
    results: Results
    orig: dict

    @property
    def preset(self) -> str:
        return self.results.main


Finding = dict  # items, effect, noise, z and the evidence's numbers


@dataclass(frozen=True)
class Claim:
    """One claim of the original, declared once: its id, the original's sentence it tests (verbatim from the
    report), what is tested in short, how it is measured, the number the metrics keep, and the unit of its
    effect and noise."""
    id: str
    quote: str  # the original report's sentence
    text: str  # the claim as tested here
    measure: Callable[[Evidence], Finding | str]  # a finding, or why these results cannot judge it
    key: Callable[[Finding], float]  # the number behind the verdict (results/metrics/claims_value.PRESET.json)
    unit: str  # what the effect is and what its noise is
    uses_alpha: bool = True  # False: accuracies and epochs only, so no estimator preset can move it
    template: str = ""  # the macro of report_templates/claims.html that writes its evidence (default: the id)


def item(name: str, effect: float | None, noise: float | None, note: str = "") -> dict:
    """One item of a finding: its effect, noise, z and, without a noise, why."""
    z = z_of(effect, noise) if effect is not None else None
    return {"item": name, "effect": effect, "noise": noise, "z": z, "verdict": z_verdict(z),
            "note": note if z is None else ""}


def on_every_item(items: list[dict], what: str = "network") -> dict:
    """A claim about every network holds as far as its weakest network does; a network without noise of its own
    (one training seed analysed) is left out of the verdict and named. {} (no z) when no item has a noise."""
    judged = [i for i in items if i["z"] is not None]
    left = [i for i in items if i["z"] is None]
    by_note: dict[str, list[str]] = {}
    for i in left:
        by_note.setdefault(i["note"], []).append(i["item"])
    note = "; ".join(f"{why}: {', '.join(names)}" for why, names in by_note.items())
    if not judged:
        return {"z": None, "note": f"no {what} has noise of its own ({note})" if note else f"no {what} to judge"}
    worst = min(judged, key=lambda i: i["z"])
    return {"z": weakest([i["z"] for i in judged]), "effect": worst["effect"], "noise": worst["noise"],
            "note": f"judged on {len(judged)} of {len(items)} {what}s; not judged: {note}" if left else ""}


def row(claim: Claim, preset: str, name: str, part: dict) -> Row:
    z = part.get("z")
    return Row(claim.id, preset, name, part.get("effect"), part.get("noise"), z,
               z_verdict(z) if z is not None else INCONCLUSIVE, claim.unit, part.get("note", "") if z is None
               or name == WHOLE else "")
