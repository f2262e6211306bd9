"""The import graph of ``core`` and ``avc_tui``: no circles, no import that runs back up a layer,
and the front ends leave the database and processes to the layers below them.

Every import counts, function-local ones included: a circle hidden inside a function is still a
circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "avc_tui")
# Who may not import whom: (importer prefix, imported prefix).
FORBIDDEN = (
    ("core", "avc_tui"),
    ("avc_tui.registry", "avc_tui.control"), ("avc_tui.registry", "avc_tui.runner"),
    ("avc_tui.registry", "avc_tui.cli"), ("avc_tui.registry", "avc_tui.tui"),
    ("avc_tui.runner", "avc_tui.control"), ("avc_tui.runner", "avc_tui.cli"),
    ("avc_tui.runner", "avc_tui.tui"),
    ("avc_tui.control", "avc_tui.cli"), ("avc_tui.control", "avc_tui.tui"),
    ("avc_tui.cli", "avc_tui.tui.screens"), ("avc_tui.tui", "avc_tui.cli"),
    ("avc_tui.export", "avc_tui.cli"), ("avc_tui.export", "avc_tui.tui"),
    ("avc_tui.export", "avc_tui.runner"),
)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path, modules: dict[str, Path]) -> dict[str, set[str]]:
    """{imported module of the project: the names this module imports from it} for every
    import statement in ``path``, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, set[str]] = {}

    def add(target: str, name: str) -> None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != module:
            found.setdefault(target, set()).add(name)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, alias.name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)
    return {m: set(_imported(m, p, modules)) for m, p in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_checker_finds_a_circle_and_an_upward_import(tmp_path: Path) -> None:
    for name, text in {"core/__init__.py": "", "core/a.py": "def f():\n    from core import b\n",
                       "core/b.py": "from core.a import f\nimport avc_tui.x\n",
                       "avc_tui/__init__.py": "", "avc_tui/x.py": ""}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert circles(graph) == [["core.a", "core.b"]]
    assert "avc_tui.x" in graph["core.b"]


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


@pytest.mark.parametrize("importer, imported", FORBIDDEN)
def test_no_import_runs_back_up(importer: str, imported: str) -> None:
    wrong = sorted(f"{m} → {t}" for m, targets in import_graph().items() if _within(m, importer)
                   for t in targets if _within(t, imported))
    assert wrong == []


def test_screens_leave_the_database_and_processes_to_the_layers_below() -> None:
    offending = []
    for path in (ROOT / "avc_tui" / "tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offending += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("sqlalchemy", "subprocess", "multiprocessing")]
    assert offending == []
