"""Every flow at DEBUG, with Powertools logging whole events: no password, token, hash or
Authorization value appears anywhere in the local run's output."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from harness.soft_authenticator import SoftAuthenticator
from tests.e2e.service import PASSKEY_ORIGIN, Service
from tests.helpers import PASSWORD, totp_code

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
    again = service.post("/auth/refresh", {"refresh_token": rotated["refresh_token"]}).json()
    secrets |= {again["access_token"], again["refresh_token"]}
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
    # The second factor: enrollment, a login in two steps (a code, a recovery code), a
    # wrong code, a step-up, and turning it off
    mfa_user = service.new_user()
    signed_in = service.login(mfa_user)
    access = bearer(signed_in["access_token"])
    setup = service.post("/auth/mfa/totp", headers=access).json()
    confirm_code = totp_code(setup["secret"], time.time())
    codes = service.post("/auth/mfa/totp/confirm", {"code": confirm_code}, headers=access).json()
    secrets |= {setup["secret"], setup["otpauth_uri"], confirm_code, *codes["recovery_codes"]}
    step = service.post("/auth/login", {"username": mfa_user, "password": PASSWORD}).json()
    service.post("/auth/login/mfa", {"mfa_token": step["mfa_token"], "code": "000000"})
    next_code = totp_code(setup["secret"], time.time() + 30)
    done = service.post("/auth/login/mfa", {"mfa_token": step["mfa_token"], "code": next_code})
    secrets |= {step["mfa_token"], next_code, done.json()["access_token"]}
    step_up = {"password": PASSWORD, "code": codes["recovery_codes"][0]}
    proved = service.post("/auth/reauth", step_up, headers=access).json()
    secrets |= {proved["access_token"]}
    off = service.delete("/auth/mfa/totp", headers=bearer(proved["access_token"]))
    assert off.status_code == 204
    # Passkeys: one added, a sign-in with it (its ceremony_id is single use, like a token)
    authenticator = SoftAuthenticator(urlsplit(PASSKEY_ORIGIN).hostname or "", PASSKEY_ORIGIN)
    passkey_access = bearer(service.login(service.new_user())["access_token"])
    created = service.post("/auth/passkeys/registration/options", headers=passkey_access).json()
    credential = authenticator.create(created["options"])
    added = service.post("/auth/passkeys", {"credential": credential}, headers=passkey_access)
    assert added.status_code == 201, added.text
    asked = service.post("/auth/passkeys/authentication/options").json()
    assertion = {
        "ceremony_id": asked["ceremony_id"],
        "credential": authenticator.get(asked["options"]),
    }
    with_passkey = service.post("/auth/passkeys/authentication", assertion).json()
    secrets |= {asked["ceremony_id"], with_passkey["access_token"], with_passkey["refresh_token"]}
    # and the hashes, sealed secrets and digests the table holds
    table = service.aws("dynamodb").list_tables()["TableNames"][0]
    for item in service.aws("dynamodb").scan(TableName=table)["Items"]:
        if "password_hash" in item:
            secrets.add(item["password_hash"]["S"])
        for sealed in ("totp_secret", "pending_totp"):
            if sealed in item:
                secrets.add(item[sealed]["S"])
        secrets.update(item.get("refresh_digests", {}).get("SS", []))
        secrets.update(item.get("recovery_codes", {}).get("SS", []))
    # Then the logs are busy (whole events were logged)...
    logs = service.logs()
    assert '"rawPath":"/auth/login"' in logs, logs[-3000:]
    assert '"rawPath":"/auth/password"' in logs
    assert '"rawPath":"/auth/login/mfa"' in logs
    assert '"rawPath":"/auth/passkeys/authentication"' in logs
    # ...and hold none of the secrets
    leaked = sorted(secret for secret in secrets if secret in logs)
    assert not leaked, f"{len(leaked)} secrets in the logs"
    assert len(secrets) > 15
