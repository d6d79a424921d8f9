"""Stage report: gather every result, draw the figures, render HTML with Jinja2 and PDF with WeasyPrint.

Deterministic: no dates, host names or absolute paths; the same inputs give the same bytes. The
numbers and verdicts come from replication.analysis.claims, the figures from replication.report.figures.

    python -m replication.stages.report      # writes report/index.html, report/report.pdf, report/figures/
"""

from __future__ import annotations

from replication.core.errors import run_main
from replication.report import render
from replication.report import settings as cfg


def main() -> int:
    render.build(cfg.load())
    print(f"wrote {render.OUT / 'index.html'} and {render.OUT / 'report.pdf'}")
    return 0



if __name__ == "__main__":
    run_main(main)
