"""Back-channel logout over each backend (in memory, moto, DynamoDB Local): when a central
session ends, every app that took part and registered a back-channel URI gets one logout
token naming the session; an app that is down is retried, then reported, never holding
back the others; the session's grants are gone afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable

import jwt
import pytest

from harness.domain import CLIENT, ISSUER, Services
from harness.sso_domain import build_single_sign_on, grant_store_over
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.models import Millis
from session_service.domain.ports import SessionStore
from session_service.domain.sso.backchannel import (
    LOGOUT_EVENT,
    BackchannelLogout,
    DeliveryFailed,
)
from session_service.domain.sso.clients import OAuthClient
from session_service.domain.sso.provider import CodeRequest, SingleSignOn
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
REDIRECT = "https://app.example.test/callback"


def client(client_id: str, backchannel: str | None) -> OAuthClient:
    return OAuthClient(
        client_id=client_id,
        name=client_id,
        client_type="public",
        redirect_uris=(REDIRECT,),
        post_logout_redirect_uris=(),
        backchannel_logout_uri=backchannel,
        secret_digest=None,
        created_at=Millis(0),
        updated_at=Millis(0),
    )


CLIENTS = {
    "billing": client("billing", "https://billing.example.test/logout"),
    "reports": client("reports", "https://reports.example.test/logout"),
    "spa": client("spa", None),
}


class RecordingDelivery:
    """Apps as the service sees them: each URI answers, or fails its first `failing` tries."""

    def __init__(self, failing: dict[str, int] | None = None) -> None:
        self.failing = dict(failing or {})
        self.received: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def post(self, uri: str, logout_token: str) -> None:
        with self._lock:
            if self.failing.get(uri, 0) > 0:
                self.failing[uri] -= 1
                raise DeliveryFailed("HTTP 503")
            self.received.append((uri, logout_token))


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def backchannel(
    services: Services, store: SessionStore, delivery: RecordingDelivery
) -> BackchannelLogout:
    return BackchannelLogout(
        grant_store_over(store),
        CLIENTS.get,
        services.access_tokens,
        delivery,
        clock=services.clock,
        sleep=lambda _: None,
    )


def central_with_apps(
    services: Services, sso: SingleSignOn, apps: tuple[str, ...]
) -> tuple[str, str]:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    tokens = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    central = sso.central_session(tokens.refresh_token)
    assert central is not None
    for app in apps:
        code = sso.find_code(
            sso.issue_code(central, CodeRequest(app, REDIRECT, "openid", None, "c")), app
        )
        assert code is not None
        sso.exchange(code)
    return central.user_id, central.session_id


def test_every_app_with_a_uri_gets_one_logout_token_naming_the_session(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    user_id, session_id = central_with_apps(services, sso, ("billing", "reports", "spa"))
    delivery = RecordingDelivery()
    assert backchannel(services, store, delivery).session_ended(user_id, session_id) == []
    assert sorted(uri for uri, _ in delivery.received) == [
        "https://billing.example.test/logout",
        "https://reports.example.test/logout",
    ]
    for uri, token in delivery.received:
        assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
        claims = jwt.decode(token, options={"verify_signature": False})
        assert {k: claims[k] for k in ("iss", "sub", "sid", "events")} == {
            "iss": ISSUER,
            "sub": user_id,
            "sid": session_id,
            "events": {LOGOUT_EVENT: {}},
        }
        assert uri.startswith(f"https://{claims['aud']}.")
        assert "nonce" not in claims
    assert grant_store_over(store).session_grants(user_id, session_id) == []


def test_an_app_that_is_down_is_retried_then_reported_without_holding_back_the_others(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    user_id, session_id = central_with_apps(services, sso, ("billing", "reports"))
    delivery = RecordingDelivery(
        {"https://billing.example.test/logout": 2, "https://reports.example.test/logout": 3}
    )
    undelivered = backchannel(services, store, delivery).session_ended(user_id, session_id)
    assert [(u.client_id, u.reason) for u in undelivered] == [("reports", "HTTP 503")]
    assert [uri for uri, _ in delivery.received] == ["https://billing.example.test/logout"]


def test_only_the_ended_sessions_apps_hear_of_it(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    user_id, session_id = central_with_apps(services, sso, ("billing",))
    other = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    other_central = sso.central_session(other.refresh_token)
    assert other_central is not None
    code = sso.find_code(
        sso.issue_code(other_central, CodeRequest("reports", REDIRECT, "openid", None, "c")),
        "reports",
    )
    assert code is not None
    kept = sso.exchange(code)
    delivery = RecordingDelivery()
    backchannel(services, store, delivery).session_ended(user_id, session_id)
    assert [uri for uri, _ in delivery.received] == ["https://billing.example.test/logout"]
    assert sso.introspect(kept.refresh_token)["active"] is True
