"""The shape of the code: stages on top, libraries below, dvc.yaml deps equal to each stage's imports."""

from __future__ import annotations

import re

import pytest
import yaml
from structure import FLOORS, PACKAGE, STAGES, TOOLS, closure, dep_paths, imports, modules, path

from replication.core import registry as layout
from replication.core.errors import ConfigError, MissingResult, UserError, message, run_main

DVC = yaml.safe_load((PACKAGE.parent / "dvc.yaml").read_text())["stages"]
MAX_LINES = 450


def _module(stage: str) -> str:
    """The module a dvc.yaml stage runs (`python -m replication.stages.MODULE ...`), as a dotted name under
    replication/."""
    return _body(stage)["cmd"].split()[2].removeprefix("replication.")


def test_replication_is_grouped_into_floors():
    """Subpackages named after what they hold, a dozen top-level modules at most."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12 and {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        FLOORS)
    assert all(m.split(".")[0] in FLOORS or m == "__main__" for m in modules())


def test_every_stage_has_a_dvc_stage_a_module_and_a_registry_family():
    """dvc.yaml and the registry name the same families, each run by the same module."""
    assert {stage: _module(stage) for stage in DVC} == {
        f.name: f.module.removeprefix("replication.") for f in layout.FAMILIES}
    assert {_module(stage) for stage in DVC} == set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_a_stage_or_a_tool(stage):
    assert imports(stage) & (set(STAGES) | set(TOOLS)) == set()


@pytest.mark.parametrize("module", [m for m in modules() if m not in STAGES + TOOLS])
def test_libraries_import_no_stage_or_tool(module):
    assert imports(module) & (set(STAGES) | set(TOOLS)) == set()


@pytest.mark.parametrize("module", modules())
def test_modules_are_short(module):
    assert len(path(module).read_text().splitlines()) <= MAX_LINES


def _body(stage: str) -> dict:
    return DVC[stage].get("do", DVC[stage])


@pytest.mark.parametrize("stage", DVC)
def test_dvc_deps_are_the_stage_import_closure(stage):
    """A module the stage imports but dvc.yaml does not list would not rerun it; an extra one reruns it
    for nothing (the data tool, the report). Both fail here."""
    listed = {d for d in _body(stage)["deps"] if d.startswith("replication/") and d.endswith(".py")}
    need = set(dep_paths(_module(stage)))
    assert listed == need, f"dvc.yaml {stage} deps: add {need - listed}, drop {listed - need}"


@pytest.mark.slow
def test_no_stage_depends_on_a_tool():
    assert all(not closure(stage) & set(TOOLS) for stage in STAGES)


@pytest.mark.parametrize(("floor", "forbidden"), [
    ("stages.train", ("estimator.", "analysis.", "report.")),  # a training never reruns for an estimator, a claim
    ("stages.architectures", ("estimator.", "analysis.", "report.")),
    ("stages.smoothness", ("networks.training", "networks.stopping", "analysis.", "report.")),  # nor a forest for
    ("stages.mislabel", ("networks.training", "networks.stopping", "analysis.", "report.")),  # training code
    ("stages.target", ("networks.training", "analysis.", "report.")),
    ("stages.metrics", ("report.",)),
])
def test_each_stage_depends_on_its_own_floors(floor, forbidden):
    assert not [m for m in closure(floor) if m.startswith(forbidden)]


def _outs(stage: str) -> list[str]:
    body = _body(stage)
    entries = [o for key in ("outs", "metrics", "plots") for o in body.get(key, [])]
    return [next(iter(o)) if isinstance(o, dict) else o for o in entries]


def _dvc(family: layout.Family, *placeholders) -> list[str]:
    """The registry's outputs of `family` for DVC's ${...} placeholders (they are not valid names, so valid
    stand-ins go in)."""
    stand_ins = [f"placeholder{i}" for i in range(len(placeholders))]
    paths = []
    for out in family.outs(*stand_ins):
        text = str(out)
        for stand_in, placeholder in zip(stand_ins, placeholders, strict=True):
            text = text.replace(stand_in, placeholder)
        paths.append(text)
    return paths


def test_result_paths_match_dvc_yaml():
    """dvc.yaml's outputs are the registry's, family by family."""
    keys = {"train": ("${key}",), "target": ("${key}",), "smoothness_input": ("${item.preset}",),
            "smoothness": ("${item.preset}", "${item.target}"), "mislabel": ("${item.run}", "${item.preset}",
                                                                              "${item.rate}"),
            "retrain": ("${item}",)}
    for family in layout.FAMILIES:
        assert _outs(family.name) == _dvc(family, *keys.get(family.name, ())), family.name
    for stage in ("smoothness",):
        assert str(layout.input_alpha("${item.preset}".replace("${item.preset}", "p"))).replace(
            "/p/", "/${item.preset}/") in _body(stage)["deps"]
    assert _dvc(layout.TARGET, "${item.target}")[0] in _body("smoothness")["deps"]


def test_stage_names_come_from_the_registry():
    """No module but the registry formats a stage name (`train@` and the like in an f-string)."""
    import re

    families = "|".join(f.name for f in layout.FAMILIES)
    pattern = re.compile(rf'f"[^"]*\b({families})@\{{')
    offenders = [m for m in modules() if m != "core.registry" and pattern.search(path(m).read_text())]
    assert offenders == []


def test_user_errors_print_one_line_and_bugs_keep_their_traceback(capsys):
    def user_error():
        raise UserError("params.yaml: key 'x' must be positive")

    with pytest.raises(SystemExit) as exit_:
        run_main(user_error, guard=False)
    assert exit_.value.code == 1 and capsys.readouterr().err == "error: params.yaml: key 'x' must be positive\n"

    def bug():
        return {}["snapshot"]

    with pytest.raises(KeyError):  # not swallowed into "error: 'snapshot'"
        run_main(bug, guard=False)


def test_a_params_error_under_dvc_says_how_to_undo_the_setting(monkeypatch):
    """`dvc exp run -S` leaves a refused value in params.yaml: the stage's one line says how to get back."""
    bad = ConfigError("params.yaml: smoothness.lead 'x' is not a preset")
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert message(bad) == "params.yaml: smoothness.lead 'x' is not a preset"
    monkeypatch.setenv("DVC_STAGE", "metrics")
    assert message(bad).endswith("`git checkout -- params.yaml` puts back the committed value "
                                 "(results/ and report/ are as they were)")
    assert "\n" not in message(ConfigError("two\nlines"))
    assert "git checkout" not in message(MissingResult("results/x.json is missing"))  # not a setting


def test_plots_are_the_report_figures_and_every_output_persists():
    """`dvc plots` shows the report's figures (images: nothing to load from the network), and DVC never deletes
    an output before its stage runs (a failed setting keeps the previous results)."""
    dvc = yaml.safe_load((PACKAGE.parent / "dvc.yaml").read_text())
    assert dvc["plots"] == [str(layout.REPORT_DIR / "figures")]
    assert str(layout.REPORT_DIR / "figures") in map(str, layout.REPORT.outs())
    for name, body in dvc["stages"].items():
        body = body.get("do", body)
        for entry in [o for key in ("outs", "metrics") for o in body.get(key, [])]:
            path, flags = next(iter(entry.items()))
            assert flags == {"cache": False, "persist": True}, (name, path)


@pytest.mark.slow
def test_the_report_imports_no_torch():
    """The report reads the architectures and class names as data (results/architectures.json)."""
    import subprocess
    import sys

    code = "import sys, replication.stages.report; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_imports_for_annotations_only_are_no_dependency():
    """claims names the results tables in annotations only (under `if TYPE_CHECKING:`): the overfit stage, which
    imports claims, neither lists them in dvc.yaml nor loads them (or pandas) when it runs."""
    import subprocess
    import sys

    assert "analysis.results" in imports("report.render") and "analysis.results" not in closure("stages.overfit")
    code = ("import sys, replication.stages.overfit; "
            "assert not {'replication.analysis.results', 'pandas'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


@pytest.mark.parametrize("module", modules())
def test_functions_are_short(module):
    """No function a reader cannot hold: 60 lines at most, docstring included."""
    import ast

    tree = ast.parse(path(module).read_text())
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert long == []


# Readers that open a project file without the guards of core/files.py (regular-file check, size bound,
# guarded YAML): each allowed use names why it is safe.
BARE_READERS = re.compile(r"(?<![\w.])open\(|np\.load\(|torch\.load\(|yaml\.(?:safe_)?load\(")
ALLOWED_BARE = {
    "networks.dataset": 2,  # np.load of the two arrays open_regular has just checked (memory-mapped: needs a path)
    "networks.weights": 1,  # torch.load of the file object open_regular returned
    "estimator.wavelets": 1,  # np.load of the array open_regular has just checked (memory-mapped)
    "core.runtime": 1,  # /proc/cpuinfo: the machine's, not the project's
}


def test_no_module_reads_a_project_file_past_the_guarded_readers():
    found = {m: len(BARE_READERS.findall(path(m).read_text())) for m in modules() if m != "core.files"}
    assert {m: n for m, n in found.items() if n} == ALLOWED_BARE
