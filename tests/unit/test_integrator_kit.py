"""What integrators start from: the .http collection names every route of the template
(and nothing else), and env.json gives `sam local invoke` what each function reads."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from typing import Any

from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from local_run.template import ROOT

COLLECTION = ROOT / "clients" / "http" / "session-service.http"
REQUEST = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \{\{api\}\}(\S+)$", re.MULTILINE)


def _routes() -> set[tuple[str, str]]:
    return {
        (route.method, route.path)
        for route in http_api(deployed_template()).routes
        if route.path != "$default" and route.method != "OPTIONS"
    }


def test_the_http_collection_calls_every_route_and_only_routes() -> None:
    routes = _routes()
    patterns = {
        route: re.compile(
            re.sub(
                r"\{[^}]+\}", r"[^/]+", re.escape(route[1]).replace(r"\{", "{").replace(r"\}", "}")
            )
            + "$"
        )
        for route in routes
    }
    called: set[tuple[str, str]] = set()
    for method, target in REQUEST.findall(COLLECTION.read_text()):
        path = target.split("?", 1)[0]
        matches = [
            route
            for route, pattern in patterns.items()
            if route[0] == method and pattern.match(path)
        ]
        assert matches, f"{method} {path} is no route of the template"
        called.update(matches)
    assert called == routes


def test_env_json_gives_every_function_the_resources_it_names() -> None:
    generated = subprocess.run(
        [sys.executable, "scripts/env_json.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = json.loads((ROOT / "env.json").read_text())
    assert json.loads(generated) == committed, "env.json is stale: scripts/env_json.py > env.json"
    functions = deployed_template().functions()
    assert set(committed) == set(functions)
    for name, variables in committed.items():
        declared = functions[name]["Properties"]["Environment"]["Variables"]
        assert set(variables) <= set(declared), name
        assert {"TABLE_NAME", "VERIFICATION_KEYS_PARAMETER"} <= set(variables), name
        # the authorizer holds no private key; every other function the key ring
        assert ("SIGNING_KEY_SECRET_ID" in variables) is (name != "AuthorizerFunction"), name
    assert committed["ApiFunction"]["SECOND_FACTOR_KEY_SECRET_ID"]


def _downstream(event: dict[str, Any]) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(
        "downstream_app", ROOT / "examples" / "downstream_lambda" / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answer: dict[str, Any] = module.lambda_handler(event, None)
    return answer


def test_a_downstream_function_reads_the_caller_from_the_authorizers_context() -> None:
    now = int(time.time())
    context = {"sub": "u-1", "sid": "s-1", "amr": "pwd", "authTime": now}
    event = json.loads((ROOT / "events" / "authorizer" / "other-api-request.json").read_text())
    event["requestContext"]["authorizer"] = {"lambda": context}
    answer = _downstream(event)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"user_id": "u-1", "session_id": "s-1", "amr": ["pwd"]}
    # Its own rule for a sensitive route: a second factor, recently
    event["routeKey"] = "POST /transfers"
    assert _downstream(event)["statusCode"] == 403
    context.update(amr="hwk user", authTime=now - 3600)
    assert _downstream(event)["statusCode"] == 401
    context.update(authTime=now)
    assert _downstream(event)["statusCode"] == 200
