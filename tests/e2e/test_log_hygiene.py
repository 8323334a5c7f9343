"""Every flow at DEBUG, with Powertools logging whole events: no password, token, hash or
Authorization value appears anywhere in the local run's output."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.service import Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
NEW_PASSWORD = "another secret passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_secret_reaches_the_logs(configured: Callable[..., Service]) -> None:
    service = configured(
        POWERTOOLS_LOG_LEVEL="DEBUG",
        POWERTOOLS_LOGGER_LOG_EVENT="true",
        LOGIN_FAILURES_PER_USERNAME="2",
    )
    secrets: set[str] = {PASSWORD, NEW_PASSWORD, "wrong password value"}
    # Every flow: register, login, session, list, refresh, reuse, revoke, password change,
    # failed and throttled logins, logout by access and by refresh token, JWKS
    username = service.new_user()
    first = service.login(username)
    second = service.login(username)
    secrets |= {first["access_token"], first["refresh_token"], second["access_token"]}
    secrets |= {first["device_token"], second["device_token"]}
    # a login presenting its device token (the failures below then count on their own)
    known = service.post(
        "/auth/login",
        {"username": username, "password": PASSWORD, "device_token": first["device_token"]},
    ).json()
    secrets |= {known["access_token"], known["refresh_token"], known["device_token"]}
    service.get("/auth/session", headers=bearer(first["access_token"]))
    service.get("/auth/sessions", headers=bearer(first["access_token"]))
    rotated = service.post("/auth/refresh", {"refresh_token": second["refresh_token"]}).json()
    secrets |= {rotated["access_token"], rotated["refresh_token"], second["refresh_token"]}
    service.post("/auth/refresh", {"refresh_token": second["refresh_token"]})  # reuse
    service.delete(f"/auth/sessions/{second['session_id']}", headers=bearer(first["access_token"]))
    changed = service.post(
        "/auth/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(first["access_token"]),
    ).json()
    secrets |= {changed["access_token"], changed["refresh_token"], changed["device_token"]}
    for _ in range(3):
        service.post("/auth/login", {"username": username, "password": "wrong password value"})
    other = service.login(service.new_user())
    secrets |= {other["access_token"], other["refresh_token"], other["device_token"]}
    service.post("/auth/logout", headers=bearer(other["access_token"]))
    service.post("/auth/logout", {"refresh_token": changed["refresh_token"]})
    service.get("/.well-known/jwks.json")
    # and the hashes the table holds
    table = service.aws("dynamodb").list_tables()["TableNames"][0]
    for item in service.aws("dynamodb").scan(TableName=table)["Items"]:
        if "password_hash" in item:
            secrets.add(item["password_hash"]["S"])
        secrets.update(item.get("refresh_digests", {}).get("SS", []))
    # Then the logs are busy (whole events were logged)...
    logs = service.logs()
    assert '"rawPath":"/auth/login"' in logs, logs[-3000:]
    assert '"rawPath":"/auth/password"' in logs
    # ...and hold none of the secrets
    leaked = sorted(secret for secret in secrets if secret in logs)
    assert not leaked, f"{len(leaked)} secrets in the logs"
    assert len(secrets) > 15
