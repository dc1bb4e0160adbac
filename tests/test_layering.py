"""The arrows between the parts of pbflow point one way: the engine imports no procedure (nor
the shared services, pages or CLI), and no module of pbflow/ is part of an import circle.

Imports are read from the source with ``ast``, those inside functions included (they run
later, but they tie the modules together all the same); imports under ``if TYPE_CHECKING:``
are left out, as they never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pbflow"
ABOVE_THE_ENGINE = ("pbflow.procedures", "pbflow.services", "pbflow.web", "pbflow.cli")


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of the tree except the bodies of ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """Each module of pbflow/ and the modules of pbflow/ it imports."""
    files: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported: set[str] = set()
        for node in _nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package[: len(package) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                modules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]
                imported.update(modules or [base])
        graph[name] = {m for m in imported if m in files and m != name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def test_no_module_of_pbflow_is_in_an_import_circle():
    graph = import_graph()
    assert "pbflow.engine.runtime" in graph and "pbflow.procedures.opinion_box.views" in graph
    assert sorted(m for m in graph if m in reachable(graph, m)) == []


def test_the_engine_imports_nothing_above_it_even_inside_functions():
    graph = import_graph()
    engine = [m for m in graph if m.startswith("pbflow.engine")]
    reached = set().union(*(reachable(graph, m) for m in engine))
    assert "pbflow.models" in reached
    assert sorted(m for m in reached if m == "pbflow" or m.startswith(ABOVE_THE_ENGINE)) == []


def test_importing_every_engine_module_loads_no_procedure():
    """In a fresh interpreter, as a program using the engine alone would."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import pbflow.engine\n"
        "for m in pkgutil.iter_modules(pbflow.engine.__path__):\n"
        "    importlib.import_module('pbflow.engine.' + m.name)\n"
        "print('\\n'.join(sorted(n for n in sys.modules if n.startswith('pbflow'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {"pbflow.engine.runtime", "pbflow.engine.guards", "pbflow.engine.votes"} <= set(loaded)
    assert [m for m in loaded if m.startswith(ABOVE_THE_ENGINE)] == []
