"""The basic lifecycle over HTTP: register, login, refresh, reuse, logout."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_login_refresh_reuse_logout(service: Service) -> None:
    # Given a new user who logs in
    username = service.new_user()
    tokens = service.login(username.upper())
    session = service.get("/auth/session", headers=bearer(tokens["access_token"]))
    assert session.status_code == 200
    assert session.json()["session_id"] == tokens["session_id"]
    # When they refresh, the token rotates
    refreshed = service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    rotated = refreshed.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # And once it has rotated again, presenting the first one is reuse (older than the
    # previous token: no grace window lets it through), and the session ends for everybody
    rotated = service.post("/auth/refresh", {"refresh_token": rotated["refresh_token"]}).json()
    reused = service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_grant"
    after = service.get("/auth/session", headers=bearer(rotated["access_token"]))
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_token"
    # Then a new login and a logout
    fresh = service.login(username)
    assert service.post("/auth/logout", headers=bearer(fresh["access_token"])).status_code == 204
    gone = service.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})
    assert gone.status_code == 401


def test_eight_parallel_refreshes_of_one_token_let_exactly_one_through(
    on_each_backend: Callable[..., Service],
) -> None:
    # Without the grace window (by default, 10 s in which the previous token rotates again,
    # into at most 8 siblings, for a client whose answer was lost)
    service = on_each_backend(REFRESH_REUSE_GRACE_SECONDS="0")
    tokens = service.login(service.new_user())
    body = {"refresh_token": tokens["refresh_token"]}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: service.post("/auth/refresh", body), range(8)))
    statuses = sorted(answer.status_code for answer in answers)
    # The first exchange to reach DynamoDB wins; every other one presents a spent token.
    assert statuses == [200] + [401] * 7, statuses


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth/login", b"{nope"),
        ("POST", "/auth/login", b"[1,2]"),
        ("POST", "/auth/register", b'{"username": 1}'),
        ("POST", "/auth/refresh", b'{"refresh_token": "x"}'),
        ("POST", "/auth/logout", b""),
        ("GET", "/auth/session", b""),
        ("GET", "/does/not/exist", b""),
        ("POST", "/auth/login", b"x" * 20_000),
        ("POST", "/auth/login", b"[" * 12_000),
        ("POST", "/auth/register", b'{"a":' * 2_500 + b"1" + b"}" * 2_500),
        ("DELETE", "/auth/sessions/" + "x" * 2_000, b""),
    ],
)
def test_bad_input_never_gets_a_5xx(service: Service, method: str, path: str, body: bytes) -> None:
    answer = requests.request(method, service.url(path), data=body, timeout=30)
    assert 400 <= answer.status_code < 500
    assert set(answer.json()) == {"error", "error_description"}
    assert "Traceback" not in answer.text
    assert PASSWORD not in answer.text


def test_a_session_id_over_dynamodbs_key_limit_is_not_found(service: Service) -> None:
    tokens = service.login(service.new_user())
    answer = service.delete("/auth/sessions/" + "x" * 2_000, headers=bearer(tokens["access_token"]))
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
