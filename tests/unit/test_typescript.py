"""The TypeScript types integrators use are generated from docs/openapi.json by
openapi-typescript (`make openapi`), and they and the example that uses them compile
(`make typescript` installs both tools, locked in scripts/typescript)."""

from __future__ import annotations

import subprocess

from local_run.template import ROOT

TOOLS = ROOT / ".typescript" / "node_modules" / ".bin"
CLIENT = ROOT / "clients" / "typescript"


def _tool(name: str) -> str:
    tool = TOOLS / name
    assert tool.exists(), f"{tool} is missing: `make typescript` installs it"
    return str(tool)


def test_the_committed_types_are_what_the_openapi_document_generates() -> None:
    generated = subprocess.run(
        [_tool("openapi-typescript"), "docs/openapi.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (CLIENT / "session-service.ts").read_text()
    assert generated == committed, "clients/typescript is stale: run `make openapi`"


def test_the_types_and_the_example_compile() -> None:
    compiled = subprocess.run(
        [_tool("tsc"), "-p", str(CLIENT / "tsconfig.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
