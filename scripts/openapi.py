"""The API's OpenAPI document, generated from the API function's routes by Powertools.

`python scripts/openapi.py` prints it; `make openapi` writes docs/openapi.json, which a
test keeps equal to what the code generates."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
# The layer's package, importable as in Lambda (/opt/python).
sys.path.append(str(ROOT / "layers" / "core"))


def openapi_document() -> dict[str, Any]:
    # Enough environment for the function's cold start; no AWS call is made.
    for name, value in {
        "TABLE_NAME": "openapi",
        "SIGNING_KEY_SECRET_ID": "openapi",
        "TOKEN_ISSUER": "https://sessions.example.com",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    sys.path.insert(0, str(ROOT / "functions" / "api"))
    spec = importlib.util.spec_from_file_location("api_app", ROOT / "functions" / "api" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document: dict[str, Any] = json.loads(module.app.get_openapi_json_schema())
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = render(openapi_document())
    if sys.argv[1:] == ["--write"]:
        DOCUMENT.write_text(text)
    else:
        sys.stdout.write(text)
