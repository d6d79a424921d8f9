"""The shape of the code: stages on top, libraries below, dvc.yaml deps equal to each stage's imports."""

from __future__ import annotations

import pytest
import yaml
from structure import PACKAGE, STAGES, TOOLS, closure, imports, modules

from replication import layout
from replication.errors import UserError, run_main

DVC = yaml.safe_load((PACKAGE.parent / "dvc.yaml").read_text())["stages"]
MAX_LINES = 450


def _module(stage: str) -> str:
    """The module a dvc.yaml stage runs (`python -m replication.MODULE ...`)."""
    return _body(stage)["cmd"].split()[2].removeprefix("replication.")


def test_every_stage_has_a_dvc_stage_and_a_module():
    assert {_module(stage) for stage in DVC} == set(STAGES)
    assert set(STAGES) <= set(modules())


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_a_stage_or_a_tool(stage):
    assert imports(stage) & (set(STAGES) | set(TOOLS)) == set()


@pytest.mark.parametrize("module", [m for m in modules() if m not in STAGES + TOOLS])
def test_libraries_import_no_stage_or_tool(module):
    assert imports(module) & (set(STAGES) | set(TOOLS)) == set()


@pytest.mark.parametrize("module", modules())
def test_modules_are_short(module):
    assert len((PACKAGE / f"{module}.py").read_text().splitlines()) <= MAX_LINES


def _body(stage: str) -> dict:
    return DVC[stage].get("do", DVC[stage])


@pytest.mark.parametrize("stage", DVC)
def test_dvc_deps_are_the_stage_import_closure(stage):
    """A module the stage imports but dvc.yaml does not list would not rerun it; an extra one reruns it
    for nothing (the data tool, the report). Both fail here."""
    listed = {d.removeprefix("replication/").removesuffix(".py") for d in _body(stage)["deps"]
              if d.startswith("replication/") and d.endswith(".py")}
    need = closure(_module(stage))
    assert listed == need, f"dvc.yaml {stage} deps: add {need - listed}, drop {listed - need}"


def test_no_stage_depends_on_the_data_tool():
    assert all("data" not in closure(stage) for stage in STAGES)


def _outs(stage: str) -> list[str]:
    body = _body(stage)
    entries = [o for key in ("outs", "metrics", "plots") for o in body.get(key, [])]
    return [next(iter(o)) if isinstance(o, dict) else o for o in entries]


def _dvc(function, *placeholders) -> str:
    """layout's path for DVC's ${...} placeholders (they are not valid names, so valid stand-ins go in)."""
    stand_ins = [f"placeholder{i}" for i in range(len(placeholders))]
    path = str(function(*stand_ins))
    for stand_in, placeholder in zip(stand_ins, placeholders, strict=True):
        path = path.replace(stand_in, placeholder)
    return path


def test_result_paths_match_dvc_yaml():
    assert {_dvc(lambda k, w=w: layout.weights(k, w), "${key}") for w in ("final", "snapshot")} | {
        _dvc(layout.train_metrics, "${key}"), _dvc(layout.history, "${key}"),
        _dvc(layout.train_timing, "${key}")} == set(_outs("train"))
    assert _outs("target") == [_dvc(layout.target_file, "${key}")]
    for stage, preset, target in (("smoothness", "${item.preset}", "${item.target}"),
                                  ("smoothness_original", "${smoothness.original.preset}", "${item}")):
        assert {_dvc(layout.alphas_json, preset, target), _dvc(layout.alphas_csv, preset, target),
                _dvc(layout.smoothness_timing, preset, target)} == set(_outs(stage)), stage
        assert _dvc(layout.input_alpha, preset) in _body(stage)["deps"], stage
        assert _dvc(layout.target_file, target) in _body(stage)["deps"], stage
    assert _outs("smoothness_input") == [_dvc(layout.input_alpha, "${item.preset}"),
                                         _dvc(layout.input_timing, "${item.preset}")]
    assert _outs("smoothness_original_input") == [_dvc(layout.input_alpha, "${smoothness.original.preset}"),
                                                  _dvc(layout.input_timing, "${smoothness.original.preset}")]
    assert _outs("last_layer") == [_dvc(layout.last_layer, "${smoothness.original.preset}", "${key}"),
                                   _dvc(layout.last_layer_timing, "${smoothness.original.preset}", "${key}")]
    assert _outs("mislabel") == [_dvc(layout.mislabel, "${item.run}", "${item.preset}", "${item.rate}"),
                                 _dvc(layout.mislabel_timing, "${item.run}", "${item.preset}", "${item.rate}")]
    assert _outs("retrain") == [_dvc(layout.retrain_dir, "${item}"), _dvc(layout.retrain_timing, "${item}")]
    assert _outs("overfit") == [str(layout.OVERFIT)] and _outs("suggest") == [str(layout.SUGGESTIONS)]
    assert _outs("architectures") == [str(layout.ARCHITECTURES)]
    assert all(o.startswith(f"{layout.REPORT}/") for o in _outs("report"))
    assert _outs("metrics") == [str(layout.METRICS)]


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


def test_top_level_plots_overlay_every_run_and_target(raw_params):
    plots = {next(iter(p)): next(iter(p.values())) for p in
             yaml.safe_load((PACKAGE.parent / "dvc.yaml").read_text())["plots"]}
    targets, preset = raw_params["smoothness"]["targets"], raw_params["smoothness"]["lead"]
    assert set(plots["alpha per layer"]["y"]) == {str(layout.alphas_csv(preset, t)) for t in targets}
    assert set(plots["validation loss"]["y"]) == {str(layout.history(r)) for r in raw_params["runs"]}


def test_the_report_imports_no_torch():
    """The report reads the architectures and class names as data (results/architectures.json)."""
    import subprocess
    import sys

    code = "import sys, replication.report; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_imports_for_annotations_only_are_no_dependency():
    """claims names the results tables in annotations only (under `if TYPE_CHECKING:`): the overfit stage, which
    imports claims, neither lists them in dvc.yaml nor loads them (or pandas) when it runs."""
    import subprocess
    import sys

    assert "results" in imports("report") and "results" not in closure("overfit")
    code = "import sys, replication.overfit; assert not {'replication.results', 'pandas'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


@pytest.mark.parametrize("stage", ["smoothness", "last_layer", "mislabel"])
def test_forest_stages_do_not_depend_on_the_training_loop(stage):
    assert {"training", "stopping"} & closure(stage) == set()


@pytest.mark.parametrize("module", modules())
def test_functions_are_short(module):
    """No function a reader cannot hold: 60 lines at most, docstring included."""
    import ast

    from structure import PACKAGE

    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert long == []
