"""Print the pinned `bench` optional dependencies of pyproject.toml, one a line."""

from __future__ import annotations

import tomllib
from pathlib import Path

if __name__ == "__main__":
    pyproject = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    )
    for requirement in pyproject["project"]["optional-dependencies"]["bench"]:
        print(requirement)
