"""The design card's import rules, checked on the source: imports flow one way (access_control <- imagery <-
tiling <- geo_label <- api), none below api knows the web, and no module takes part in an import circle
(issue 16: orchestration lives in modules the leaves do not import). Imports only for type checkers
(``if TYPE_CHECKING:``) are left out: they never run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("access_control", "imagery", "tiling", "geo_label", "api")
#: What each package may import of ours (besides itself).
ALLOWED = {
    "access_control": set(),
    "imagery": {"access_control"},
    "tiling": {"access_control", "imagery"},
    "geo_label": {"access_control", "imagery", "tiling"},
    "api": {"access_control", "imagery", "tiling", "geo_label"},
}
WEB = ("fastapi", "starlette", "uvicorn")
#: The composition root: the command line starts the server, so it may name the web and the app.
COMPOSITION_ROOT = "geo_label.cli"


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imported(name: str, path: Path) -> set[str]:
    """The modules ``name`` imports at run time (at the top or in a function), as dotted names."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for target in imported(name, path):
            while target and target not in files:  # `from pkg import name`: the module, else the package
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_imports_flow_one_way() -> None:
    wrong = []
    for name, path in module_files().items():
        package = name.split(".")[0]
        if name == COMPOSITION_ROOT or name.startswith(COMPOSITION_ROOT + "."):
            package = "api"
        for target in imported(name, path):
            top = target.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f"{name} imports {target}")
            if package != "api" and top in WEB:
                wrong.append(f"{name} imports {target} (only api knows the web)")
    assert wrong == []


def test_no_module_takes_part_in_an_import_circle() -> None:
    assert circles(import_graph()) == []
