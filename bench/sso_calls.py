"""The AWS calls of single sign-on (issue 30): the hosted sign-in, authorize with and
without a central session, the token endpoint's two grants, introspection, and the
RP-initiated logout whose asynchronous part is back-channel logout (the table's stream
brings the session's removal to BackchannelLogoutFunction, which POSTs each app's logout
token; the app here is a server on loopback). Counted as bench/aws_calls.py counts the
other operations; `python -m bench.sso_calls` prints them."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.credentials import Credentials

from bench.aws_calls import PASSWORDS, OperationCalls, count, counted_stack
from harness.sso_apps import PKCE_CHALLENGE, PKCE_VERIFIER, BackchannelApp
from harness.stack import ISSUER, HttpAnswer, Stack
from local_run.sigv4 import signed_headers

USERNAME = "ada"
REDIRECT_URI = "http://127.0.0.1:8400/callback"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class SsoState:
    client_id: str = ""
    basic: str = ""
    cookie: str = ""
    code: str = ""
    tokens: dict[str, Any] = field(default_factory=dict)


def _query() -> str:
    return urlencode(
        {
            "response_type": "code",
            "scope": "openid profile",
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "nonce": "n",
            "code_challenge": PKCE_CHALLENGE,
            "code_challenge_method": "S256",
        }
    )


def _checked(answer: HttpAnswer, name: str, status: int) -> HttpAnswer:
    if answer.status != status:
        raise RuntimeError(f"{name}: {answer.status} {answer.raw.body[:300]!r}")
    return answer


def _sign_in(stack: Stack, state: SsoState) -> None:
    request = f"client_id={state.client_id}&{_query()}"
    fields = {"request": request, "username": USERNAME, "password": PASSWORDS[0]}
    answer = stack.http("POST", "/signin", urlencode(fields), {**FORM, "origin": ISSUER})
    state.cookie = _checked(answer, "sign-in", 303).cookies[0].split(";", 1)[0]


def _authorize(stack: Stack, state: SsoState, with_session: bool) -> None:
    headers = {"cookie": state.cookie} if with_session else {}
    path = f"/oauth2/authorize?client_id={state.client_id}&{_query()}"
    location = _checked(stack.http("GET", path, headers=headers), "authorize", 302)
    if with_session:
        state.code = parse_qs(urlsplit(location.headers["location"]).query)["code"][0]


def _token(stack: Stack, state: SsoState, form: dict[str, str]) -> None:
    headers = {**FORM, "authorization": f"Basic {state.basic}"}
    answer = stack.http("POST", "/oauth2/token", urlencode(form), headers)
    # (a refresh answers no new ID token: the code's stays, for the logout's hint)
    state.tokens = {**state.tokens, **_checked(answer, "token", 200).json()}


def _exchange(stack: Stack, state: SsoState) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": state.code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": PKCE_VERIFIER,
    }
    _token(stack, state, form)


def _refresh(stack: Stack, state: SsoState) -> None:
    _token(
        stack,
        state,
        {"grant_type": "refresh_token", "refresh_token": state.tokens["refresh_token"]},
    )


def _introspect(stack: Stack, state: SsoState) -> None:
    headers = {**FORM, "authorization": f"Basic {state.basic}"}
    form = urlencode({"token": state.tokens["access_token"]})
    _checked(stack.http("POST", "/oauth2/introspect", form, headers), "introspect", 200)


def _logout(stack: Stack, state: SsoState) -> None:
    hint = urlencode({"id_token_hint": state.tokens["id_token"]})
    answer = stack.http("GET", f"/oauth2/logout?{hint}", headers={"cookie": state.cookie})
    _checked(answer, "logout", 200)


@dataclass(frozen=True)
class SsoOperation:
    name: str
    route: str
    perform: Callable[[Stack, SsoState], None]
    note: str = ""


# In this order, every cycle: each uses what the one before made (a session, a code, tokens).
SSO_OPERATIONS = (
    SsoOperation("hosted sign-in", "POST /signin", _sign_in, "password; a central session"),
    SsoOperation(
        "authorize, with a central session",
        "GET /oauth2/authorize",
        lambda stack, state: _authorize(stack, state, True),
        "a code for the app",
    ),
    SsoOperation(
        "authorize, without a central session",
        "GET /oauth2/authorize",
        lambda stack, state: _authorize(stack, state, False),
        "to the sign-in page",
    ),
    SsoOperation("token, code", "POST /oauth2/token", _exchange, "a confidential app's grant"),
    SsoOperation("token, refresh", "POST /oauth2/token", _refresh, "the grant's token rotated"),
    SsoOperation("introspection", "POST /oauth2/introspect", _introspect, "an access token"),
    SsoOperation(
        "RP-initiated logout",
        "GET /oauth2/logout",
        _logout,
        "afterwards: back-channel logout to the app",
    ),
)


def _register(stack: Stack, app: BackchannelApp) -> SsoState:
    body = json.dumps(
        {
            "name": "Bench",
            "type": "confidential",
            "redirect_uris": [REDIRECT_URI],
            "backchannel_logout_uri": app.uri,
        }
    ).encode()
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    host = "127.0.0.1:3000"
    headers = signed_headers(
        "POST", f"http://{host}/admin/clients", body, credentials, "us-east-1", {"host": host}
    )
    client = _checked(stack.http("POST", "/admin/clients", body.decode(), headers), "client", 201)
    found = client.json()
    secret = f"{found['client_id']}:{found['client_secret']}"
    return SsoState(found["client_id"], base64.b64encode(secret.encode()).decode())


def run() -> tuple[list[OperationCalls], int]:
    """The operations' calls, and how many logout tokens the app received."""
    results = [OperationCalls(op.name, op.route, note=op.note) for op in SSO_OPERATIONS]
    app = BackchannelApp()
    try:
        # The app listens on loopback, where back-channel logouts go only when
        # BACKCHANNEL_LOOPBACK is on (the local run's setting; off on AWS).
        with patch.dict(os.environ, BACKCHANNEL_LOOPBACK="on"), counted_stack({}) as counted:
            stack = counted.moto.stack
            stack.http("POST", "/auth/register", {"username": USERNAME, "password": PASSWORDS[0]})
            state = _register(stack, app)
            count(counted, SSO_OPERATIONS, results, lambda op: op.perform(stack, state))
    finally:
        app.stop()
    return results, len(app.received)


def _summary(calls: OperationCalls) -> str:
    def named(counter: Any) -> str:
        return (
            ", ".join(f"{name.function}:{name} x{n}" for name, n in sorted(counter.items()))
            or "none"
        )

    warm = calls.warm[0] if calls.warm else {}
    later = calls.asynchronous[0] if calls.asynchronous else {}
    return (
        f"{calls.name}: warm {named(warm)} | afterwards {named(later)} | cold {named(calls.cold)}"
    )


if __name__ == "__main__":
    measured, received = run()
    for operation in measured:
        print(_summary(operation))
    print(f"logout tokens the app received: {received}")
