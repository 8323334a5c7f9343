"""A local stand-in for API Gateway's HTTP API: the template's routes and authorizers, the
payload 2.0 events API Gateway sends, and its answers when an authorizer refuses."""

from __future__ import annotations

import base64
import json
import os
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local_run.api_definition import Authorizer, HttpRoute, http_api
from local_run.functions import FunctionPool, InvocationError
from local_run.responses import GatewayResponse, forbidden, message
from local_run.sigv4 import SignedRequest, SigningKey, iam_identity
from local_run.static_files import static_file
from local_run.template import Template

# API Gateway's own payload limit; our function enforces the contract's 16 KiB.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass
class GatewayConfig:
    routes: list[HttpRoute]
    authorizers: dict[str, Authorizer]
    stage_variables: dict[str, str]
    # API Gateway's CORS configuration as the OpenAPI body holds it (allowOrigins...).
    cors: dict[str, Any] | None = None
    functions: dict[str, FunctionPool] = field(default_factory=dict)
    domain: str = "127.0.0.1:3000"
    # Path prefix ("/demo/") -> directory of static files served there, GET and HEAD only.
    # Local only: API Gateway serves no files; the template never deploys them.
    static: dict[str, Path] = field(default_factory=dict)
    # Path -> what answers a POST there, for the demo page only (its QR codes).
    local_posts: dict[str, Callable[[bytes], GatewayResponse]] = field(default_factory=dict)
    # Path -> what answers a GET there, given the query string (the demo's mailbox).
    local_gets: dict[str, Callable[[str], GatewayResponse]] = field(default_factory=dict)
    # The credentials whose SigV4 signatures IAM-authorised routes accept (the run's own).
    signing_key: SigningKey | None = None


def gateway_config(template: Template, functions: dict[str, FunctionPool]) -> GatewayConfig:
    api = http_api(template)
    return GatewayConfig(
        routes=api.routes,
        authorizers=api.authorizers,
        stage_variables=api.stage_variables,
        cors=api.cors,
        functions=functions,
        signing_key=SigningKey(
            os.environ.get("AWS_ACCESS_KEY_ID", ""),
            os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            template.region,
        ),
    )


@dataclass(frozen=True)
class IncomingRequest:
    """A request as the gateway received it, before any route is chosen."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayResponse:
        url = urlsplit(target)
        path = url.path or "/"
        if method in ("GET", "HEAD") and path in self.config.local_gets:
            return self.config.local_gets[path](url.query)
        if method in ("GET", "HEAD"):
            static = static_file(self.config.static, path)
            if static is not None:
                return static
        if method == "POST" and path in self.config.local_posts:
            return self.config.local_posts[path](body)
        origin = next((v for k, v in headers if k.lower() == "origin"), None)
        preflight = method == "OPTIONS" and any(
            k.lower() == "access-control-request-method" for k, _ in headers
        )
        # As API Gateway: a preflight goes to the route that matches OPTIONS (an OPTIONS
        # or ANY route, else $default); only with none does the gateway answer it itself.
        if preflight and origin and self.config.cors is not None:
            route, _ = self._route(method, path)
            if route is None:
                return self._preflight(origin)
        response = self._handle(IncomingRequest(method, path, url.query, headers, body, source_ip))
        # API Gateway replaces whatever CORS headers the integration sent with its own.
        response.headers = [
            (name, value)
            for name, value in response.headers
            if not name.lower().startswith("access-control-")
        ] + (self._preflight_headers(origin) if preflight else self._cors_headers(origin))
        return response

    def _cors_headers(self, origin: str | None) -> list[tuple[str, str]]:
        cors = self.config.cors
        if not cors or not origin or origin not in cors.get("allowOrigins", []):
            return []
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if cors.get("allowCredentials"):
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if cors.get("exposeHeaders"):
            headers.append(("Access-Control-Expose-Headers", ",".join(cors["exposeHeaders"])))
        return headers

    def _preflight(self, origin: str) -> GatewayResponse:
        """API Gateway answers a preflight that no route takes, when CORS is configured."""
        return GatewayResponse(204, self._preflight_headers(origin), b"")

    def _preflight_headers(self, origin: str | None) -> list[tuple[str, str]]:
        headers = self._cors_headers(origin)
        if headers and self.config.cors:
            cors = self.config.cors
            headers.append(("Access-Control-Allow-Methods", ",".join(cors.get("allowMethods", []))))
            headers.append(("Access-Control-Allow-Headers", ",".join(cors.get("allowHeaders", []))))
            headers.append(("Access-Control-Max-Age", str(cors.get("maxAge", 0))))
        return headers

    def _handle(self, request: IncomingRequest) -> GatewayResponse:
        route, path_parameters = self._route(request.method, request.path)
        if route is None:
            return message(404, "Not Found")
        event = self._event(request, route, path_parameters)
        authorizer = self.config.authorizers.get(route.authorizer or "")
        if authorizer is not None and authorizer.kind == "iam":
            identity = self._iam_identity(request)
            if identity is None:
                return forbidden()
            event["requestContext"]["authorizer"] = {"iam": identity}
        elif authorizer is not None:
            refusal = self._authorize(authorizer, event)
            if refusal is not None:
                return refusal
        try:
            result = self.config.functions[route.function].invoke(event)
        except (InvocationError, OSError):
            return message(500, "Internal Server Error")
        return self._response(result)

    def _iam_identity(self, request: IncomingRequest) -> dict[str, str] | None:
        headers = {name.lower(): value for name, value in request.headers}
        key = self.config.signing_key
        if key is None or not key.access_key or not key.secret_key:
            return None
        signed = SignedRequest(
            method=request.method,
            host=headers.get("host", self.config.domain),
            path=request.path,
            query=request.query,
            headers=headers,
            body=request.body,
        )
        return iam_identity(signed, key)

    def _route(self, method: str, path: str) -> tuple[HttpRoute | None, dict[str, str]]:
        default = None
        for route in self.config.routes:
            if route.path == "$default":
                default = route
                continue
            parameters = route.matches(method, path)
            if parameters is not None:
                return route, parameters
        return default, {}

    def _event(
        self, request: IncomingRequest, route: HttpRoute, path_parameters: dict[str, str]
    ) -> dict[str, Any]:
        """The payload 2.0 event API Gateway sends the route's function."""
        method, path, query, body = request.method, request.path, request.query, request.body
        merged: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers:
            key = name.lower()
            if key == "cookie":
                cookies.extend(part.strip() for part in value.split(";") if part.strip())
                continue
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        route_key = "$default" if route.path == "$default" else f"{route.method} {route.path}"
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": merged,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": self.config.domain,
                "domainPrefix": self.config.domain.split(".")[0],
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.source_ip,
                    "userAgent": merged.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            params: dict[str, str] = {}
            for key, value in parse_qsl(query, keep_blank_values=True):
                params[key] = f"{params[key]},{value}" if key in params else value
            event["queryStringParameters"] = params
        if path_parameters:
            event["pathParameters"] = path_parameters
        if self.config.stage_variables:
            event["stageVariables"] = dict(self.config.stage_variables)
        if body:
            content_type = merged.get("content-type", "application/json")
            try:
                if not content_type.startswith(_TEXT_TYPES):
                    raise UnicodeDecodeError("binary", b"", 0, 1, "not text")
                event["body"] = body.decode()
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        return event

    def _authorize(self, authorizer: Authorizer, event: dict[str, Any]) -> GatewayResponse | None:
        identity = []
        for source in authorizer.identity_sources:
            value = _identity_value(source, event)
            if not value:
                # API Gateway answers for itself when an identity source is missing.
                return message(401, "Unauthorized")
            identity.append(value)
        request = {
            **{k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")},
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/"
            f"{event['requestContext']['http']['method']}{event['rawPath']}",
            "identitySource": identity,
        }
        try:
            answer = self.config.functions[authorizer.function].invoke(request)
        except (InvocationError, OSError):
            return message(500, "Internal Server Error")
        if not isinstance(answer, dict) or answer.get("isAuthorized") is not True:
            return message(403, "Forbidden")
        event["requestContext"]["authorizer"] = {"lambda": answer.get("context") or {}}
        return None

    def _response(self, result: Any) -> GatewayResponse:
        if not (isinstance(result, dict) and "statusCode" in result):
            # Payload 2.0 lets a function return just a body.
            body = json.dumps(result).encode()
            return GatewayResponse(200, [("Content-Type", "application/json")], body)
        headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((name, str(v)) for v in values)
        headers.extend(("Set-Cookie", cookie) for cookie in result.get("cookies") or [])
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return GatewayResponse(int(result["statusCode"]), headers, body)


def _identity_value(source: str, event: Mapping[str, Any]) -> str | None:
    prefixes = {
        "$request.header.": event.get("headers") or {},
        "$request.querystring.": event.get("queryStringParameters") or {},
        "$stageVariables.": event.get("stageVariables") or {},
    }
    for prefix, values in prefixes.items():
        if source.startswith(prefix):
            name = source.removeprefix(prefix)
            value = values.get(name.lower() if prefix == "$request.header." else name)
            return str(value) if value else None
    return None


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_PAYLOAD_BYTES:
                # Read what was sent before answering: closing a socket with unread data
                # resets it, and the client would never see the answer.
                self._discard(max(length, 0))
                status = 413 if length > MAX_PAYLOAD_BYTES else 400
                self._send(
                    message(status, "Request Entity Too Large" if status == 413 else "Bad Request")
                )
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            try:
                response = gateway.handle(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.client_address[0],
                )
            except Exception:
                # A bug of the local run's own: answer as API Gateway would (and say why on
                # the console), never by dropping the connection.
                traceback.print_exc()
                response = message(500, "Internal Server Error")
            self._send(response)

        def _discard(self, length: int) -> None:
            remaining = min(length, 4 * MAX_PAYLOAD_BYTES)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)

        def _send(self, response: GatewayResponse) -> None:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            body = b"" if response.status in (204, 304) else response.body
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the routes, as in API Gateway ($default takes the rest).
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def log_message(self, *_: Any) -> None:
            # No request line on the console: a query may carry an address (the mailbox).
            return

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    return server


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a burst of clients arriving while the
    # accept loop waits for the CPU (cold starts on two cores) overflowed it, and Linux
    # answered the overflow with resets. API Gateway queues far more.
    request_queue_size = 1024
