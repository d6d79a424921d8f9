"""The original study's claims held against this run: one module per family, each claim declared once there
(its id, the original's sentence, how it is measured, its unit), gathered here into CLAIMS.

`judge` measures every claim under every estimator preset (the lead first); `table` turns the findings into the
claim table's rows (base.Row: claim, preset, item, effect, noise, z, verdict, unit, note), the one place a verdict
is made: the metrics stage writes them to results/claims.csv, with each finding's numbers in results/claims.json
for the report's evidence, and the report reads both. Every noise is the claim's own (zscore): a network's own
training seeds, or the standard error of a difference of two seed means; nothing is borrowed from another
network, and a claim a preset cannot judge says why in its note.
"""

from __future__ import annotations

from replication.analysis import settings as cfg
from replication.analysis.claims import depth, last_layer, layer_falls, mislabel, overfit, training
from replication.analysis.claims.base import COLUMNS, WHOLE, Claim, Evidence, Row, row
from replication.analysis.claims.overfit import conv_lower, layer_differences
from replication.analysis.results import Results, short_layer
from replication.analysis.zscore import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOISE_SDS,
    WITHIN_NOISE,
    weakest,
    z_verdict,
)

__all__ = ["CLAIMS", "COLUMNS", "FAILS", "HOLDS", "INCONCLUSIVE", "NOISE_SDS", "SENTENCES", "WHOLE", "WITHIN_NOISE",
           "Claim", "Evidence", "Row", "conv_lower", "declarations", "judge", "layer_differences", "short_layer",
           "table", "z_verdict"]

CLAIMS: dict[str, Claim] = {c.id: c for module in (training, last_layer, depth, mislabel, overfit, layer_falls)
                            for c in module.CLAIMS}

# One sentence of the original tested as two claims: the table also judges the sentence as a whole (it holds
# only as far as its weaker part does).
SENTENCES: dict[str, tuple[str, ...]] = {
    "flat_then_abrupt_rise": ("alpha_no_steady_rise", "alpha_rises_abruptly_at_fc1"),
}


def judge(params: cfg.Params, results: Results, orig: dict) -> dict[str, dict[str, dict | str]]:
    """preset -> claim id -> its finding, or why the preset cannot judge it; presets in the report's order (the
    lead first)."""
    out = {}
    for preset in params.smoothness.ordered:
        evidence = Evidence(params, results.of(preset), orig)
        out[preset] = {claim.id: claim.measure(evidence) for claim in CLAIMS.values()}
    return out


def declarations() -> list[dict]:
    """What the report prints of each claim beside its rows (results/claims.json `claims`, in the order the report
    shows them): its id, the original's sentence, the claim as tested, its unit, whether it reads alphas, and the
    evidence macro; then each sentence of SENTENCES."""
    out = [{"id": c.id, "quote": c.quote, "text": c.text, "unit": c.unit, "uses_alpha": c.uses_alpha,
            "template": c.template or c.id} for c in CLAIMS.values()]
    for sentence, parts in SENTENCES.items():
        out.append({"id": sentence, "quote": CLAIMS[parts[0]].quote, "text": "The sentence as a whole: " + " and ".join(
            CLAIMS[p].text.rstrip(".").lower() for p in parts) + ".", "unit": "z of the weaker part",
            "uses_alpha": True, "template": "", "parts": list(parts)})
    return out


def _whole(finding: dict | str) -> dict:
    return {"note": finding} if isinstance(finding, str) else finding


def table(findings: dict[str, dict[str, dict | str]]) -> list[Row]:
    """The claim table: per preset and claim, the row carrying its verdict (item WHOLE) and one row per item; then
    each sentence of SENTENCES as a whole, under every preset."""
    rows = []
    for preset, by_claim in findings.items():
        for claim_id, finding in by_claim.items():
            claim = CLAIMS[claim_id]
            rows.append(row(claim, preset, WHOLE, _whole(finding)))
            if isinstance(finding, dict):
                rows += [row(claim, preset, i["item"], i) for i in finding["items"]]
    for preset in findings:
        for sentence, parts in SENTENCES.items():
            found = {r.claim: r for r in rows if r.preset == preset and r.item == WHOLE and r.claim in parts}
            z = weakest([found[p].z for p in parts])
            note = ("the weaker part's z: " + ", ".join(parts) if z is not None else
                    "; ".join(f"{p}: {found[p].note}" for p in parts if found[p].z is None))
            rows.append(Row(sentence, preset, WHOLE, None, None, z, z_verdict(z), "z of the weaker part", note))
    return rows
