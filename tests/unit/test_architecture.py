"""The layer's folders are its architecture, and imports point inward only: the domain
knows no AWS SDK and no adapter, edge or composition; adapters implement the domain's
interfaces without knowing the HTTP edge; the edge knows no adapter. Only the composition
root (wiring) puts them together."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_run.template import ROOT
from tests.import_graph import imports_of

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


def modules(part: str) -> list[Path]:
    return sorted((PACKAGE / part).rglob("*.py"))


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
    module = tmp_path / PACKAGE.relative_to(ROOT) / "domain" / "sessions.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "def f():\n    from session_service.adapters.store import x\n"
        "from ..adapters import dynamo\n"
    )
    found = imports_of(module, root=tmp_path)
    assert "session_service.adapters.store" in found
    # a relative import resolves to the module it names
    assert "session_service.adapters.dynamo" in found


def test_observability_is_a_leaf() -> None:
    """The logger and metrics every part imports import no part and no AWS SDK."""
    crossings = {
        name
        for name in imports_of(PACKAGE / "observability.py")
        if name.startswith(("session_service", "boto3", "botocore"))
    }
    assert crossings == set()


def test_tests_share_helpers_through_modules_and_bench_imports_no_test() -> None:
    """No test file imports another test file or a conftest; bench imports no test code."""
    offending = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for name in imports_of(path):
            last = name.split(".")[-1]
            if name.startswith("tests.") and (last == "conftest" or last.startswith("test_")):
                offending.add(f"{path.relative_to(ROOT)} imports {name}")
    for path in (ROOT / "bench").rglob("*.py"):
        offending.update(
            f"{path.relative_to(ROOT)} imports {name}"
            for name in imports_of(path)
            if name == "tests" or name.startswith("tests.")
        )
    assert offending == set()


def test_every_module_of_the_layer_sits_in_a_part_or_is_the_composition() -> None:
    top = {path.name for path in PACKAGE.glob("*.py")}
    # The composition root is wiring.py, with mail_wiring.py for the e-mail capability,
    # sso_wiring.py for single sign-on and federation_wiring.py for federation.
    composition = {"wiring.py", "mail_wiring.py", "sso_wiring.py", "federation_wiring.py"}
    assert top == {"__init__.py", "config.py", "observability.py", *composition}


# Every module of the project: the layer, the functions, the local run, what tests and
# benchmarks share, the benchmarks, the scripts and the tests.
SOURCE_FOLDERS = ("layers/core", "functions", "local_run", "harness", "bench", "scripts", "tests")


def test_no_module_is_over_about_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): length
        for folder in SOURCE_FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if (length := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
