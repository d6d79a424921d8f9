"""The PDF layout checks of tests/pdf_layout.py, on pages made up by hand, then on the committed report (the
report of the tiny pipeline is checked in tests/test_pipeline.py)."""

from __future__ import annotations

import pytest
from conftest import ROOT


def test_layout_checks_catch_what_they_look_for():
    """The checks fail where they should, on pages made up by hand."""
    from pdf_layout import Page, empty_pages, joined_words, stranded_headings

    half = Page(1, [(780.0, "text"), (420.0, "3. Architectures")], top=790.0, bottom=57.0)
    full = Page(2, [(780.0, "more text"), (60.0, "last line")], top=790.0, bottom=57.0)
    assert stranded_headings([half, full], ["3. Architectures"]) == [(1, "3. Architectures")]
    assert empty_pages([half, full], ["3. Architectures"]) == [(1, 0.5)]
    starts = Page(2, [(780.0, "4. Accuracy"), (60.0, "x")], top=790.0, bottom=57.0)
    assert empty_pages([half, starts], ["4. Accuracy"]) == []  # a section ends there
    assert joined_words("at the last layer).The interval; a fall.Every one; noise(the sd); the claim:too") == [
        "layer).The", "fall.Every", "noise(the", "claim:to"]
    assert joined_words("layer). The sd (0.02); resnet12_seed1. Plain12: e.g. results/claims.csv; v1.2") == []


@pytest.mark.slow  # reads the 29 pages back (5-8 s)
def test_the_committed_report_has_no_stranded_heading_and_no_page_mostly_empty():
    """What a reader opens: report/report.pdf as committed, held to the layout rules of the tiny pipeline's
    report (a figure too tall for the rest of a page leaves a gap: the seed figure did, at 71%)."""
    from pdf_layout import layout_faults, pages

    doc = pages(ROOT / "report" / "report.pdf")
    assert len(doc) > 10
    faults = layout_faults(doc, (ROOT / "report" / "index.html").read_text())
    assert not any(faults.values()), faults
