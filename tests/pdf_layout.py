"""The layout of a rendered PDF read back from the PDF itself (pypdf): where each page's text ends, which
line comes last and first, so tests can hold the report to "no heading stranded at a page bottom" and
"no page mostly empty unless a section ends there"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

FOOTER = re.compile(r"^page \d+ of \d+$")
MM = 72 / 25.4


@dataclass
class Page:
    number: int
    lines: list[tuple[float, str]]  # (baseline y in points from the bottom, text), top to bottom
    top: float  # the text area, from the CSS page margins
    bottom: float

    @property
    def empty_fraction(self) -> float:
        """The share of the text area below the last line."""
        if not self.lines:
            return 1.0
        return max(0.0, (self.lines[-1][0] - self.bottom) / (self.top - self.bottom))


def pages(pdf: Path, margin_top_mm: float = 18, margin_bottom_mm: float = 20) -> list[Page]:
    """Every page's body lines (the running footer left out), merged by baseline."""
    out = []
    for number, page in enumerate(PdfReader(pdf).pages, start=1):
        pieces: dict[float, list[tuple[float, str]]] = {}

        def visit(text, cm, tm, font, size, pieces=pieces):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                pieces.setdefault(round(y), []).append((x, text.strip()))

        page.extract_text(visitor_text=visit)
        lines = [(float(y), " ".join(t for _, t in sorted(parts))) for y, parts in sorted(pieces.items(), reverse=True)]
        lines = [(y, text) for y, text in lines if not FOOTER.match(text)]
        height = float(page.mediabox.height)
        out.append(Page(number, lines, height - margin_top_mm * MM, margin_bottom_mm * MM))
    return out


def stranded_headings(doc: list[Page], headings: list[str]) -> list[tuple[int, str]]:
    """(page, heading) for every page whose last line is a heading."""
    return [(p.number, p.lines[-1][1]) for p in doc if p.lines and any(
        p.lines[-1][1].startswith(h[:40]) for h in headings)]


def empty_pages(doc: list[Page], sections: list[str], limit: float = 1 / 3) -> list[tuple[int, float]]:
    """(page, empty share) for every page but the last that is more than `limit` empty while the next
    page does not start a new section."""
    out = []
    for page, following in zip(doc, doc[1:], strict=False):
        starts_section = bool(following.lines) and any(following.lines[0][1].startswith(s[:40]) for s in sections)
        if page.empty_fraction > limit and not starts_section:
            out.append((page.number, round(page.empty_fraction, 2)))
    return out


def joined_words(text: str) -> list[str]:
    """Words a template joined across its lines without a space: "fall.Every", "layer).The", "noise(the",
    "claim:too" (each was printed once)."""
    return re.findall(r"\w*(?:[a-z]{2}[.;)]|[a-z\d]\)[.;])[A-Z][a-z]+|\w*[a-z]{2}\([a-z]+|\w*[a-z]{2}:[a-z]{2}", text)


def headings_of(html: str, level: str) -> list[str]:
    """The text of every <hN> of the HTML (tags inside stripped)."""
    found = re.findall(rf"<{level}[^>]*>(.*?)</{level}>", html, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", h).replace("&amp;", "&").split()) for h in found]


def text_of(doc: list[Page]) -> str:
    """Every body line of the document, in reading order, joined by spaces."""
    return " ".join(line for page in doc for _, line in page.lines)


def layout_faults(doc: list[Page], html: str) -> dict[str, list]:
    """The report's layout rules, each with what breaks it (all empty when the layout is right): no heading
    (h2-h4) is the last line of a page, no page but the last is more than a third empty unless the next starts a
    section (h2), no two words joined without a space."""
    sections = headings_of(html, "h2")
    return {"stranded headings": stranded_headings(doc, sections + headings_of(html, "h3") + headings_of(html, "h4")),
            "mostly empty pages": empty_pages(doc, sections),
            "joined words": joined_words(text_of(doc))}
