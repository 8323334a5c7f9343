"""What the architecture tests read: the modules a file imports, the project's import graph
and its circles."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from local_run.template import ROOT

# The layer's package is imported from layers/core (the layer's root).
LAYER_ROOT = ("layers", "core")


def imports_of(path: Path, root: Path = ROOT, type_checking: bool = True) -> set[str]:
    """Every module the file imports, at module level or inside functions (and, unless
    `type_checking` is False, under `if TYPE_CHECKING:`); a relative import is resolved
    against the file's own package."""
    found: set[str] = set()
    package = module_of(path, root).split(".")[:-1]
    if path.name == "__init__.py":
        package = module_of(path, root).split(".")
    tree = ast.parse(path.read_text())
    skipped = set() if type_checking else _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """The nodes inside `if TYPE_CHECKING:` blocks (imports for annotations only)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for statement in node.body:
                inside.update(id(child) for child in ast.walk(statement))
    return inside


def module_of(path: Path, root: Path = ROOT) -> str:
    """The dotted module a file is (session_service.domain.sessions.lifecycle)."""
    parts = path.resolve().relative_to(root.resolve()).with_suffix("").parts
    if parts[: len(LAYER_ROOT)] == LAYER_ROOT:
        parts = parts[len(LAYER_ROOT) :]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(files: Iterable[Path], root: Path = ROOT) -> dict[str, set[str]]:
    """Which of the files' modules each one imports when it runs (annotations only left
    out: they never load)."""
    modules = {module_of(path, root): path for path in files}
    return {
        name: {
            imported
            for imported in imports_of(path, root, type_checking=False)
            if imported in modules and imported != name
        }
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found
