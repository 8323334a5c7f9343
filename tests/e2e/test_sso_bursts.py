"""Single sign-on's single uses under bursts of concurrent HTTP requests, on a local run
over moto and over AWS's DynamoDB Local: one code exchanged 8 times at once gives one token
set, and one app refresh token presented 8 times at once has one winner (issue 30)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from harness.sso_apps import PKCE_CHALLENGE, PKCE_VERIFIER
from harness.sso_examples import register_client
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD, burst

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="registers a client with the run's credentials"),
]

BURST = 8
REDIRECT_URI = "http://127.0.0.1:8400/callback"


def _app(service: Service) -> tuple[str, str]:
    """A confidential app's client id and its Basic credentials."""
    body = {"name": "Burst", "type": "confidential", "redirect_uris": [REDIRECT_URI]}
    client = register_client(service.base_url, body, access_key=service.access_key)
    secret = f"{client['client_id']}:{client['client_secret']}"
    return client["client_id"], base64.b64encode(secret.encode()).decode()


def _code(service: Service, client_id: str) -> str:
    """A code for the app, from the hosted page's sign-in of a new user."""
    username = service.new_user()
    request = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid offline_access",
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "nonce": "n",
            "code_challenge": PKCE_CHALLENGE,
            "code_challenge_method": "S256",
        }
    )
    signed_in = service.post(
        "/signin",
        data={"request": request, "username": username, "password": PASSWORD},
        headers={"origin": service.base_url},
        allow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.headers["set-cookie"].split(";", 1)[0]
    authorized = service.get(
        f"/oauth2/authorize?{request}", headers={"cookie": cookie}, allow_redirects=False
    )
    assert authorized.status_code == 302, authorized.text
    return parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]


def _token(service: Service, basic: str, form: dict[str, str]) -> requests.Response:
    return requests.post(
        service.url("/oauth2/token"),
        data=form,
        headers={"authorization": f"Basic {basic}"},
        timeout=30,
    )


def _outcome(answer: requests.Response) -> Any:
    return answer.status_code if answer.status_code == 200 else answer.json().get("error")


def test_one_code_exchanged_8_times_at_once_gives_one_token_set(
    on_each_backend: Callable[..., Service],
) -> None:
    service = on_each_backend()
    client_id, basic = _app(service)
    form = {
        "grant_type": "authorization_code",
        "code": _code(service, client_id),
        "redirect_uri": REDIRECT_URI,
        "code_verifier": PKCE_VERIFIER,
    }
    answers: list[requests.Response] = []

    def exchange(_: int) -> Any:
        answer = _token(service, basic, form)
        answers.append(answer)
        return _outcome(answer)

    assert burst(BURST, exchange) == {200: 1, "invalid_grant": BURST - 1}
    # The winner's grant was ended by the replays that lost (RFC 6749 §4.1.2)
    (won,) = [answer.json() for answer in answers if answer.status_code == 200]
    refreshed = _token(
        service, basic, {"grant_type": "refresh_token", "refresh_token": won["refresh_token"]}
    )
    assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")


def test_one_refresh_token_presented_8_times_at_once_has_one_winner(
    on_each_backend: Callable[..., Service],
) -> None:
    service = on_each_backend()
    client_id, basic = _app(service)
    exchanged = _token(
        service,
        basic,
        {
            "grant_type": "authorization_code",
            "code": _code(service, client_id),
            "redirect_uri": REDIRECT_URI,
            "code_verifier": PKCE_VERIFIER,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    form = {"grant_type": "refresh_token", "refresh_token": exchanged.json()["refresh_token"]}
    answers: list[requests.Response] = []

    def refresh(_: int) -> Any:
        answer = _token(service, basic, form)
        answers.append(answer)
        return _outcome(answer)

    assert burst(BURST, refresh) == {200: 1, "invalid_grant": BURST - 1}
    # The race's losers, within its window, leave the winner's grant alive
    (won,) = [answer.json() for answer in answers if answer.status_code == 200]
    again = _token(
        service, basic, {"grant_type": "refresh_token", "refresh_token": won["refresh_token"]}
    )
    assert again.status_code == 200, again.text
