"""`make smoke API_URL=https://... ORIGIN=https://app.example.com`: after a deployment, the
few calls that show the stack works end to end. The JWKS has a key (the first rotation
ran), a user registers, logs in, refreshes, logs out and is then refused, and a browser's
preflight from ORIGIN (one of AllowedOrigins) is let through. Standard library only; it
registers a user named smoke-<random>. Exit status 1 when any step fails."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

PASSWORD = "smoke test passphrase"
FIRST_KEY_WAIT_SECONDS = 60


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any = None

    def summary(self) -> str:
        """The status and the error, never a body (a token response carries tokens)."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return f"{self.status}" + (f" {error}" if error else "")


@dataclass
class Smoke:
    api_url: str
    origin: str | None
    failures: list[str] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the operator's own API URL
            self.api_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw, status, found = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, found = error.read(), error.code, error.headers
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = text
        return Answer(status, {k.lower(): v for k, v in found.items()}, parsed)

    def check(self, step: str, ok: bool, detail: object = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {step}" + ("" if ok else f": {detail}"), flush=True)
        if not ok:
            self.failures.append(step)
        return ok

    def run(self) -> int:
        # A new stack answers 503 until the first rotation has written a signing key.
        deadline = time.monotonic() + FIRST_KEY_WAIT_SECONDS
        jwks = self.call("GET", "/.well-known/jwks.json")
        while jwks.status == 503 and time.monotonic() < deadline:
            time.sleep(2)
            jwks = self.call("GET", "/.well-known/jwks.json")
        keys = jwks.body.get("keys") if isinstance(jwks.body, dict) else None
        self.check("JWKS has a signing key", jwks.status == 200 and bool(keys), jwks.summary())
        self.session_flow()
        self.preflight()
        return 1 if self.failures else 0

    def session_flow(self) -> None:
        credentials = {"username": f"smoke-{secrets.token_hex(6)}", "password": PASSWORD}
        registered = self.call("POST", "/auth/register", credentials)
        if not self.check("register", registered.status == 201, registered.summary()):
            return
        login = self.call("POST", "/auth/login", credentials)
        tokens = login.body if isinstance(login.body, dict) else {}
        if not self.check(
            "log in", login.status == 200 and "refresh_token" in tokens, login.summary()
        ):
            return
        refreshed = self.call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        fresh = refreshed.body if isinstance(refreshed.body, dict) else {}
        if not self.check(
            "refresh", refreshed.status == 200 and "access_token" in fresh, refreshed.summary()
        ):
            return
        bearer = {"authorization": f"Bearer {fresh['access_token']}"}
        session = self.call("GET", "/auth/session", headers=bearer)
        self.check("the session is live", session.status == 200, session.summary())
        logout = self.call("POST", "/auth/logout", headers=bearer)
        self.check("log out", logout.status == 204, logout.summary())
        ended = self.call("GET", "/auth/session", headers=bearer)
        self.check("the ended session is refused", ended.status == 401, ended.summary())

    def preflight(self) -> None:
        if self.origin is None:
            print("skip a preflight: set ORIGIN to one of the stack's AllowedOrigins")
            return
        asked = {
            "origin": self.origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        }
        answer = self.call("OPTIONS", "/auth/login", headers=asked)
        allowed = answer.headers.get("access-control-allow-origin")
        methods = _listed(answer.headers.get("access-control-allow-methods"))
        headers = _listed(answer.headers.get("access-control-allow-headers"))
        self.check(
            f"a preflight from {self.origin}",
            200 <= answer.status < 300
            and allowed == self.origin
            and "post" in methods
            and "content-type" in headers,
            f"{answer.status}, Access-Control-Allow-Origin: {allowed}, "
            f"-Methods: {','.join(methods)}, -Headers: {','.join(headers)}",
        )


def _listed(header: str | None) -> list[str]:
    """A comma-separated header's values, lower case (methods and names are
    case-insensitive here)."""
    return [part.strip().lower() for part in (header or "").split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make smoke", description=__doc__)
    parser.add_argument("--api-url", required=True, help="the stack's ApiUrl output")
    parser.add_argument("--origin", default=None, help="one of the stack's AllowedOrigins")
    args = parser.parse_args(argv)
    return Smoke(args.api_url.rstrip("/"), args.origin or None).run()


if __name__ == "__main__":
    sys.exit(main())
