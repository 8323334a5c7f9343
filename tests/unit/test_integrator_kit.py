"""What integrators start from: the .http collection names every route of the template
(and nothing else), and env.json gives `sam local invoke` what each function reads."""

from __future__ import annotations

import re

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
