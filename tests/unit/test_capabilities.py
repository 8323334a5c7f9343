"""The domain by capability (domain/__init__.py says what each owns): a capability may use
the shared kernel and the capabilities the map allows it, no other; and no module of the
layer, the functions or the local run imports another that imports it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_run.template import ROOT
from tests.import_graph import circles, import_graph, imports_of

DOMAIN = ROOT / "layers" / "core" / "session_service" / "domain"
# What every capability sees: the records, the error family, the storage interfaces, and
# the calls sent at once.
KERNEL = {"models", "errors", "ports", "concurrency"}
# Each capability, and the others it may use (beside the kernel).
CAPABILITIES: dict[str, set[str]] = {
    "keys": set(),
    "accounts": set(),
    "throttling": {"accounts"},
    "sessions": {"keys"},
    "factors": {"accounts", "throttling"},
    "email": {"accounts", "throttling", "activity"},
    "flows": {"accounts", "throttling", "sessions", "factors", "keys", "email"},
    "activity": set(),
    "administration": {"accounts", "sessions", "email"},
    # Single sign-on: the provider's codes and grants hang on sessions, signed by the keys
    "sso": {"sessions", "keys"},
    # Federation: another way to sign in, meeting accounts, the throttle, sessions, the
    # second factor and the flows' sign-in (password_flows.Accounts)
    "federation": {"accounts", "throttling", "sessions", "factors", "flows"},
}


def _used(path: Path) -> set[str]:
    """The parts of the domain a module imports: a capability or a kernel module."""
    prefix = "session_service.domain."
    return {
        name.removeprefix(prefix).split(".")[0]
        for name in imports_of(path)
        if name.startswith(prefix)
    }


def test_the_domain_is_the_kernel_and_the_capabilities() -> None:
    modules = {path.stem for path in DOMAIN.glob("*.py")} - {"__init__"}
    packages = {path.name for path in DOMAIN.iterdir() if (path / "__init__.py").exists()}
    assert (modules, packages) == (KERNEL, set(CAPABILITIES))
    # each says what it owns and what it may use
    for package in packages:
        assert (DOMAIN / package / "__init__.py").read_text().startswith('"""'), package


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_a_capability_uses_only_the_kernel_and_what_the_map_allows(capability: str) -> None:
    allowed = KERNEL | CAPABILITIES[capability] | {capability}
    crossings = {
        f"{path.relative_to(DOMAIN)} uses {used}"
        for path in sorted((DOMAIN / capability).glob("*.py"))
        for used in _used(path) - allowed
    }
    assert crossings == set()


def test_the_kernel_uses_no_capability() -> None:
    crossings = {
        f"{stem}.py uses {used}"
        for stem in KERNEL
        for used in _used(DOMAIN / f"{stem}.py") - KERNEL
    }
    assert crossings == set()


def test_the_map_itself_has_no_circle() -> None:
    assert circles(CAPABILITIES) == []


# The code that runs: the layer, the functions and the local run.
RUNNING_CODE = ("layers/core", "functions", "local_run")


def test_no_module_imports_one_that_imports_it_back() -> None:
    files = [path for folder in RUNNING_CODE for path in (ROOT / folder).rglob("*.py")]
    assert circles(import_graph(files)) == []


def test_the_circle_finder_finds_a_circle(tmp_path: Path) -> None:
    package = tmp_path / "layers" / "core" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from pkg.c import x\n")
    (package / "c.py").write_text("from .a import y\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    graph = import_graph(sorted(package.glob("*.py")), root=tmp_path)
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert graph["pkg.d"] == set()
