"""Print pinned requirements from pyproject.toml: `runtime` (the Lambda layer) or `dev`."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
groups = {"runtime": project["dependencies"], "dev": project["optional-dependencies"]["dev"]}
wanted = sys.argv[1:] or ["runtime", "dev"]
for name in wanted:
    for requirement in groups[name]:
        print(requirement)
