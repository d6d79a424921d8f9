"""The report rendered: HTML with Jinja2, PDF with WeasyPrint, built in a staging folder and swapped in
whole. Deterministic: no dates, host names or absolute paths; the same inputs give the same bytes."""


from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

from replication.analysis.fidelity import fidelity_by_preset
from replication.analysis.originals import originals
from replication.analysis.results import Results, gather
from replication.analysis.seed_groups import seed_table
from replication.core import registry as layout
from replication.core.errors import MissingResult, UserError
from replication.core.files import atomic_path, exclusive, swap_in, write_json, write_text
from replication.report import settings as cfg
from replication.report.context import TEMPLATES, context, environment
from replication.report.draw import draw_figures
from replication.report.provenance import lock_hash, result_hashes

OUT = layout.REPORT_DIR


class ReportError(UserError):
    """A result the report needs is missing or inconsistent."""


def build(params: cfg.Params, out: Path = OUT, root: Path = Path(".")) -> dict:
    """Render OUT/index.html, OUT/report.pdf and OUT/figures/; returns the template context.

    Everything is built in a temporary folder beside OUT and moved in only when complete, so a
    failure (a full disk, a read-only folder) leaves the previous report whole.
    """
    lock_hash(root)  # a broken dvc.lock is named now, not after a minute of drawing (the manifest reads it again)
    before = result_hashes(root)  # the manifest must hash what was rendered: compared again at the end
    results = replace(gather(params, root, timings=True),
                      architectures=layout.need(layout.ARCHITECTURES_FILE, layout.ARCHITECTURES.stage(), root))
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out.with_name(f".{out.name}.lock"), f"a report render into {out}/"):
        return _render(params, results, out, root, before)


def _render(params: cfg.Params, results: Results, out: Path, root: Path, before: dict[str, str]) -> dict:
    """build's work, under the lock that makes it the only render into `out`."""
    # a fixed name (not a random temp name): the PDF is rendered from it, and its bytes must not vary; the
    # lock held by build makes this render its only user, so a leftover one can go
    staging = out.with_name(f".{out.name}.staging")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as err:
        raise ReportError(f"cannot write beside {out}/ ({err.strerror}); make the folder writable") from err
    try:
        (staging / "figures").mkdir()
        orig = originals()
        seeds = seed_table(params, results)
        fidelity = fidelity_by_preset(params, results, orig)
        fig, sources = draw_figures(params, results, orig, seeds, fidelity, staging / "figures")
        ctx = context(params, results, orig, seeds, fidelity, fig, sources, root)
        html = environment().get_template("report.html").render(**ctx)
        write_text(staging / "index.html", html)
        prov = ctx["provenance"]
        write_json(staging / "manifest.json", {
            "git_commit": prov["commit"], "uncommitted_changes": prov["dirty"], "results_date": prov["results_date"],
            "params.yaml": prov["params_md5"], "dvc.lock (all stages but report)": prov["lock_md5"],
            "constraints.txt": prov["constraints_md5"], "data": prov["data_hash"],
            "results": {f["path"]: f["md5"] for f in prov["files"]},
        })
        write_text(staging / "report.css", (TEMPLATES / "report.css").read_text())
        from weasyprint import HTML

        # fontTools stamps the fonts it subsets into the PDF with the current time unless
        # SOURCE_DATE_EPOCH is set; a fixed stamp makes the same HTML give the same PDF bytes.
        os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
        # links to result files stay in the HTML; in the PDF they would become absolute paths of this machine
        printable = re.sub(r'<a href="\.\./[^"]*">(.*?)</a>', r"\1", html)
        with atomic_path(staging / "report.pdf") as tmp:
            HTML(string=printable, base_url=str(staging)).write_pdf(tmp)
        unchanged(before, {f["path"]: f["md5"] for f in prov["files"]}, root, out)
        swap_in(staging, out)
    except (ReportError, MissingResult):
        raise
    except UserError as err:  # a write refused by errno (core.files.write_error): the file and the reason
        raise ReportError(f"could not write the report ({err}); {out}/ was left as it was") from None
    except OSError as err:
        raise ReportError(f"could not write the report ({err.strerror}: {err.filename or out}); {out}/ was "
                          f"left as it was. Free some space or make {out.parent.resolve()} writable") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ctx


def unchanged(before: dict[str, str], hashed: dict[str, str], root: Path, out: Path) -> None:
    """The results read at the start (`before`), hashed into the manifest (`hashed`) and there now are the same
    files with the same bytes; else a ReportError naming the first that moved (the render is not swapped in)."""
    after = result_hashes(root)
    if after != before or hashed != before:
        moved = sorted(k for k in set(before) | set(after) | set(hashed)
                       if len({before.get(k), after.get(k), hashed.get(k)}) > 1)
        raise ReportError(f"{moved[0] if moved else 'a result'} changed while the report was rendered (a stage "
                          f"still writing?); {out}/ was left as it was: rerun `dvc repro -s report` once it has "
                          "finished")
