"""The PDF layout checks of tests/pdf_layout.py, on pages made up by hand (the real report is checked in
tests/test_pipeline.py)."""

from __future__ import annotations


def test_layout_checks_catch_what_they_look_for():
    """The checks fail where they should, on pages made up by hand."""
    from pdf_layout import Page, empty_pages, stranded_headings

    half = Page(1, [(780.0, "text"), (420.0, "3. Architectures")], top=790.0, bottom=57.0)
    full = Page(2, [(780.0, "more text"), (60.0, "last line")], top=790.0, bottom=57.0)
    assert stranded_headings([half, full], ["3. Architectures"]) == [(1, "3. Architectures")]
    assert empty_pages([half, full], ["3. Architectures"]) == [(1, 0.5)]
    starts = Page(2, [(780.0, "4. Accuracy"), (60.0, "x")], top=790.0, bottom=57.0)
    assert empty_pages([half, starts], ["4. Accuracy"]) == []  # a section ends there
