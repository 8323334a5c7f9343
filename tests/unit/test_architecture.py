"""The layer's folders are its architecture, and imports point inward only: the domain
knows no AWS SDK and no adapter, edge or composition; adapters implement the domain's
interfaces without knowing the HTTP edge; the edge knows no adapter. Only the composition
root (wiring) puts them together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local_run.template import ROOT

PACKAGE = ROOT / "layers" / "core" / "session_service"
# For each part of the layer, the imports it must not make (module prefixes).
FORBIDDEN = {
    "domain": (
        "boto3",
        "botocore",
        "session_service.adapters",
        "session_service.edge",
        "session_service.wiring",
        "session_service.config",
    ),
    "adapters": ("session_service.edge", "session_service.wiring"),
    "edge": ("boto3", "botocore", "session_service.adapters", "session_service.wiring"),
}
MAX_MODULE_LINES = 400


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(part: str) -> list[Path]:
    return sorted((PACKAGE / part).glob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_point_inward(part: str) -> None:
    assert modules(part), f"session_service/{part} is empty"
    crossings = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules(part)
        for name in imports_of(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in FORBIDDEN[part])
    }
    assert crossings == set()


def test_the_checker_sees_a_wrong_way_import(tmp_path: Path) -> None:
    module = tmp_path / "sessions.py"
    module.write_text("def f():\n    from session_service.adapters.store import x\n")
    assert "session_service.adapters.store" in imports_of(module)


def test_every_module_of_the_layer_sits_in_a_part_or_is_the_composition() -> None:
    top = {path.name for path in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "config.py", "observability.py", "wiring.py"}


# Every module of the project but the tests: the layer, the functions, the local run,
# what tests and benchmarks share, the benchmarks and the scripts.
SOURCE_FOLDERS = ("layers/core", "functions", "local_run", "harness", "bench", "scripts")


def test_no_module_is_over_about_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): length
        for folder in SOURCE_FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
