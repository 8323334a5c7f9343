"""The time from a logout in one app to another app's back-channel receipt (issue 30),
measured on a local run: the path a deployed stack takes, locally (the RP-initiated logout
ends the central session, the table's stream brings the removal to
BackchannelLogoutFunction, which POSTs every app's logout token).

Each round signs a user in on the hosted page, takes a grant for two confidential apps
(each with a back-channel endpoint on loopback), then logs out in the first app; the
figure is the time from sending that logout to the second app's receipt of its logout
token. `python -m bench.backchannel_timing` prints it; `make bench` reports it."""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from botocore.credentials import Credentials

from harness.sso_apps import PKCE_CHALLENGE, PKCE_VERIFIER, BackchannelApp
from local_run.sigv4 import signed_headers

ROUNDS = 50
PASSWORD = "correct horse battery"
REDIRECT_URI = "http://127.0.0.1:8400/callback"
FORM = {"content-type": "application/x-www-form-urlencoded"}
# A logout token later than this is a failure of the round, not a slow figure.
RECEIPT_TIMEOUT_SECONDS = 30.0
# How often the app's receipts are looked at (the receipt's own time is the server's)
RECEIPT_POLL_SECONDS = 0.002


@dataclass(frozen=True)
class App:
    client_id: str
    basic: str
    endpoint: BackchannelApp


@dataclass(frozen=True)
class BackchannelTiming:
    rounds: int
    receipts_ms: list[float]  # logout sent → the other app's receipt, one per round
    backend: str

    @property
    def median_ms(self) -> float:
        return statistics.median(self.receipts_ms)

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.receipts_ms, n=20, method="inclusive")[18]

    @property
    def max_ms(self) -> float:
        return max(self.receipts_ms)


def _sid_of(form: dict[str, list[str]]) -> str:
    return _sid(form["logout_token"][0])


def _receipt(app: BackchannelApp, sid: str, timeout: float) -> float:
    """When (time.monotonic) `app` received the logout token of central session `sid`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = list(zip(app.received, app.received_at, strict=False))
        for form, at in arrived:
            if _sid_of(form) == sid:
                return at
        time.sleep(RECEIPT_POLL_SECONDS)
    raise RuntimeError(f"no logout token for session {sid} within {timeout} s")


def _register(base_url: str, access_key: str, endpoint: BackchannelApp, name: str) -> App:
    body = json.dumps(
        {
            "name": name,
            "type": "confidential",
            "redirect_uris": [REDIRECT_URI],
            "backchannel_logout_uri": endpoint.uri,
        }
    ).encode()
    url = f"{base_url}/admin/clients"
    host = urlsplit(base_url).netloc
    credentials = Credentials(access_key, "local")
    headers = signed_headers("POST", url, body, credentials, "us-east-1", {"host": host})
    answer = requests.post(url, data=body, headers=headers, timeout=30)
    answer.raise_for_status()
    found = answer.json()
    secret = f"{found['client_id']}:{found['client_secret']}"
    return App(found["client_id"], base64.b64encode(secret.encode()).decode(), endpoint)


def _authorization_query(app: App) -> str:
    return urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "nonce": "n",
            "code_challenge": PKCE_CHALLENGE,
            "code_challenge_method": "S256",
        }
    )


def _signed_in(base_url: str, app: App, username: str) -> str:
    """The central session's cookie, from the hosted page's form."""
    form = {"request": _authorization_query(app), "username": username, "password": PASSWORD}
    answer = requests.post(
        f"{base_url}/signin",
        data=form,
        headers={**FORM, "origin": base_url},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in: {answer.status_code} {answer.text[:300]}")
    return str(answer.headers["set-cookie"].split(";", 1)[0])


def _grant(base_url: str, app: App, cookie: str) -> dict[str, Any]:
    """The app's tokens, through authorize with the central session and the code."""
    authorized = requests.get(
        f"{base_url}/oauth2/authorize?{_authorization_query(app)}",
        headers={"cookie": cookie},
        allow_redirects=False,
        timeout=30,
    )
    if authorized.status_code != 302:
        raise RuntimeError(f"authorize: {authorized.status_code} {authorized.text[:300]}")
    code = parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": PKCE_VERIFIER,
    }
    answer = requests.post(
        f"{base_url}/oauth2/token",
        data=form,
        headers={**FORM, "authorization": f"Basic {app.basic}"},
        timeout=30,
    )
    answer.raise_for_status()
    return dict(answer.json())


def _sid(id_token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))["sid"])


def measure(base_url: str, access_key: str, rounds: int, backend: str) -> BackchannelTiming:
    endpoints = [BackchannelApp(), BackchannelApp()]
    try:
        first, second = (
            _register(base_url, access_key, endpoint, f"Bench app {index}")
            for index, endpoint in enumerate(endpoints)
        )
        username = f"bench-{time.time_ns()}"
        registered = requests.post(
            f"{base_url}/auth/register",
            json={"username": username, "password": PASSWORD},
            timeout=30,
        )
        registered.raise_for_status()
        times: list[float] = []
        for _ in range(rounds):
            cookie = _signed_in(base_url, first, username)
            id_token = _grant(base_url, first, cookie)["id_token"]
            _grant(base_url, second, cookie)
            hint = urlencode({"id_token_hint": id_token})
            sent = time.monotonic()
            logout = requests.get(
                f"{base_url}/oauth2/logout?{hint}", headers={"cookie": cookie}, timeout=30
            )
            if logout.status_code != 200:
                raise RuntimeError(f"logout: {logout.status_code} {logout.text[:300]}")
            received = _receipt(second.endpoint, _sid(id_token), RECEIPT_TIMEOUT_SECONDS)
            times.append((received - sent) * 1000)
        return BackchannelTiming(rounds, times, backend)
    finally:
        for endpoint in endpoints:
            endpoint.stop()


def run(rounds: int = ROUNDS, backend: str = "moto") -> BackchannelTiming:
    """On a local run of its own."""
    from local_run import launcher  # noqa: PLC0415

    local = launcher.start(
        {
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "LOCAL_DYNAMODB": backend,
            "REGISTRATIONS_PER_IP": "100000",
        }
    )
    try:
        return measure(local.base_url, "local", rounds, backend)
    finally:
        local.stop()


def describe(timing: BackchannelTiming) -> str:
    return (
        f"logout in one app → the other app's back-channel receipt, over {timing.rounds} "
        f"({timing.backend}): median {timing.median_ms:.0f} ms, p95 {timing.p95_ms:.0f} ms, "
        f"max {timing.max_ms:.0f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.backchannel_timing", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--backend", default="moto", choices=("moto", "dynamodb-local"))
    args = parser.parse_args()
    print(describe(run(args.rounds, args.backend)), file=sys.stdout)
