"""The project's import graph read from the source (AST), for the structure and dvc.yaml tests."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "replication"
STAGES = ("train", "architectures", "targets", "smoothness", "last_layer", "mislabel", "retrain", "overfit", "suggest",
          "metrics",
          "report")
TOOLS = ("data", "__main__")  # command-line tools that are not pipeline stages


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """Nodes under `if TYPE_CHECKING:`: imports for annotations, never run."""
    return {inner for node in ast.walk(tree) if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING" for stmt in node.body for inner in ast.walk(stmt)}


def imports(module: str) -> set[str]:
    """Modules of the package that `module` imports when it runs (any import form, at any depth; imports under
    `if TYPE_CHECKING:` are for annotations only and do not count)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    known = set(modules())
    skip = _type_only(tree)
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("replication"):
            if node.module == "replication":
                found |= {a.name for a in node.names if a.name in known}
            else:
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("replication.")}
    return found - {module}


def closure(module: str) -> set[str]:
    """`module` and everything it imports from the package, transitively."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(imports(m))
    return seen
