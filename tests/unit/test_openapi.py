"""docs/openapi.json is what the code generates, and it describes every route."""

from __future__ import annotations

import json
import subprocess
import sys

from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from local_run.template import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


def test_the_committed_document_matches_the_code() -> None:
    generated = subprocess.run(
        [sys.executable, "scripts/openapi.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(generated) == json.loads(DOCUMENT.read_text()), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_every_route_of_the_template_is_documented_with_its_errors() -> None:
    document = json.loads(DOCUMENT.read_text())
    for route in http_api(deployed_template()).routes:
        # The catch-all and the CORS preflights are plumbing, not operations of the API
        if route.path == "$default" or route.method == "OPTIONS":
            continue
        operation = document["paths"][route.path][route.method.lower()]
        responses = operation["responses"]
        assert {"413", "503"} <= set(responses), route
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
        if route.authorizer == "AWS_IAM":
            # The admin API: signed requests, authorised by IAM (refused: 403)
            assert operation["security"] == [{"sigv4": []}]
            assert "403" in responses
        elif route.authorizer:
            assert operation["security"] == [{"bearerAuth": []}]
            assert "401" in responses
