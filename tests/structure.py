"""The project's import graph read from the source (AST), for the structure and dvc.yaml tests.

Modules are named by their dotted path under replication/ ("core.files", "stages.train")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "replication"
FLOORS = ("core", "networks", "estimator", "analysis", "report", "tools", "stages")


def modules() -> list[str]:
    """Every module, and every package below a floor (analysis.claims: its __init__.py), by dotted name."""
    found = [p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".") for p in PACKAGE.rglob("*.py")]
    return sorted(m.removesuffix(".__init__") for m in found if not m.endswith("__init__") or m.count(".") >= 2)


STAGES = tuple(m for m in modules() if m.startswith("stages."))
TOOLS = (*(m for m in modules() if m.startswith("tools.")), "__main__")  # command-line tools that are not stages


def path(module: str) -> Path:
    folder = PACKAGE / module.replace(".", "/")
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """Nodes under `if TYPE_CHECKING:`: imports for annotations, never run."""
    return {inner for node in ast.walk(tree) if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING" for stmt in node.body for inner in ast.walk(stmt)}


def imports(module: str) -> set[str]:
    """Modules of the package that `module` imports when it runs (any import form, at any depth; imports under
    `if TYPE_CHECKING:` are for annotations only and do not count)."""
    tree = ast.parse(path(module).read_text())
    found = set()
    known = set(modules())
    skip = _type_only(tree)
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "replication":
            base = node.module.removeprefix("replication").lstrip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                found.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("replication.") for a in node.names if a.name.startswith("replication.")}
    return (found & known) - {module}


def closure(module: str) -> set[str]:
    """`module` and everything it imports from the package, transitively."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imports(m))
    return seen


def dep_paths(module: str) -> list[str]:
    """The closure as dvc.yaml lists it: replication/FLOOR/MODULE.py paths, sorted."""
    return sorted(path(m).relative_to(PACKAGE.parent).as_posix() for m in closure(module))
