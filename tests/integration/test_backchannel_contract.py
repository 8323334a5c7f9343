"""Back-channel logout over each backend (in memory, moto, DynamoDB Local): when a central
session ends, every app that took part and registered a back-channel URI gets one logout
token naming the session; an app that is down is retried, then reported, never holding
back the others; the deliveries of a batch run at once, by one deadline; a failure of the
service is its session's alone; a loopback URI is told only where that is allowed; the
session's grants are gone afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import astuple

import jwt
import pytest

from harness.domain import CLIENT, ISSUER, Services
from harness.sso_domain import build_single_sign_on, grant_store_over
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.models import Millis
from session_service.domain.ports import SessionStore
from session_service.domain.sso.backchannel import (
    DEADLINE_PASSED,
    LOGOUT_EVENT,
    MARGIN_SECONDS,
    BackchannelLogout,
    DeliveryFailed,
    EndedSession,
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
    "desktop": client("desktop", "http://127.0.0.1:8400/logout"),
}


class RecordingDelivery:
    """Apps as the service sees them: each URI answers, or fails its first `failing` tries,
    or (`hanging`) takes each try's whole time and never answers."""

    def __init__(
        self, failing: dict[str, int] | None = None, hanging: tuple[str, ...] = ()
    ) -> None:
        self.failing = dict(failing or {})
        self.hanging = hanging
        self.received: list[tuple[str, str]] = []
        self.timeouts: list[tuple[str, float]] = []
        # Set when an app that answers was told; what a hanging app saw of it
        self.answered = threading.Event()
        self.answered_while_hanging: list[bool] = []
        self._lock = threading.Lock()

    def post(self, uri: str, logout_token: str, timeout: float) -> None:
        with self._lock:
            self.timeouts.append((uri, timeout))
        if uri in self.hanging:
            started = time.monotonic()
            self.answered_while_hanging.append(self.answered.wait(timeout))
            threading.Event().wait(max(0.0, started + timeout - time.monotonic()))  # the rest
            raise DeliveryFailed("TimeoutError")
        with self._lock:
            if self.failing.get(uri, 0) > 0:
                self.failing[uri] -= 1
                raise DeliveryFailed("HTTP 503")
            self.received.append((uri, logout_token))
        self.answered.set()


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def backchannel(
    services: Services,
    store: SessionStore,
    delivery: RecordingDelivery,
    find_client: Callable[[str], OAuthClient | None] = CLIENTS.get,
    deliver_to_loopback: bool = False,
) -> BackchannelLogout:
    return BackchannelLogout(
        grant_store_over(store),
        find_client,
        services.access_tokens,
        delivery,
        deliver_to_loopback=deliver_to_loopback,
        clock=services.clock,
        sleep=lambda _: None,
    )


def central_with_apps(
    services: Services, sso: SingleSignOn, apps: tuple[str, ...], register: bool = True
) -> tuple[str, str]:
    if register:
        services.accounts.register("ada", PASSWORD, CLIENT.ip)
    tokens = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT, central=True))
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
    other = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT, central=True))
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


def test_a_batchs_deliveries_run_at_once_and_end_by_one_deadline(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    # Given two ended sessions: one app of the first never answers, the second's answers
    first = EndedSession(*central_with_apps(services, sso, ("billing",)))
    second = EndedSession(*central_with_apps(services, sso, ("reports",), register=False))
    delivery = RecordingDelivery(hanging=("https://billing.example.test/logout",))
    # When both are told in one batch, with 0.6 s to the deliveries' deadline
    outcomes = backchannel(services, store, delivery).sessions_ended(
        [first, second], MARGIN_SECONDS + 0.6
    )
    # Then the second's app was told while the first's hung, the first's had one try, all
    # of the time left (too little for another), and is reported; both sessions' grants go
    assert delivery.answered_while_hanging == [True]
    assert [uri for uri, _ in delivery.received] == ["https://reports.example.test/logout"]
    (timeout,) = [t for u, t in delivery.timeouts if "billing" in u]
    assert 0.3 < timeout <= 0.6
    assert [(o.session, [(u.client_id, u.reason) for u in o.undelivered]) for o in outcomes] == [
        (first, [("billing", "TimeoutError")]),
        (second, []),
    ]
    for session in (first, second):
        assert grant_store_over(store).session_grants(*astuple(session)) == []


def test_a_delivery_the_deadline_leaves_no_time_for_is_reported_untried(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    user_id, session_id = central_with_apps(services, sso, ("billing",))
    delivery = RecordingDelivery()
    # When the invocation has no more time than its margin
    undelivered = backchannel(services, store, delivery).session_ended(
        user_id, session_id, MARGIN_SECONDS
    )
    # Then the app is reported without a try, and the grants still go
    assert [(u.client_id, u.reason) for u in undelivered] == [("billing", DEADLINE_PASSED)]
    assert delivery.timeouts == []
    assert grant_store_over(store).session_grants(user_id, session_id) == []


def test_a_failure_of_the_service_is_its_sessions_alone(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    # Given two ended sessions, and a client the first's grant names that cannot be read
    first = EndedSession(*central_with_apps(services, sso, ("billing",)))
    second = EndedSession(*central_with_apps(services, sso, ("reports",), register=False))

    def find_client(client_id: str) -> OAuthClient | None:
        if client_id == "billing":
            raise ConnectionError("the table is unreachable")
        return CLIENTS.get(client_id)

    delivery = RecordingDelivery()
    # When both are told
    outcomes = backchannel(services, store, delivery, find_client).sessions_ended(
        [first, second], 30.0
    )
    # Then the first fails (its record is retried: its grants are kept), the second is told
    assert [(o.session, type(o.failure).__name__) for o in outcomes] == [
        (first, "ConnectionError"),
        (second, "NoneType"),
    ]
    assert [uri for uri, _ in delivery.received] == ["https://reports.example.test/logout"]
    assert len(grant_store_over(store).session_grants(*astuple(first))) == 1
    assert grant_store_over(store).session_grants(*astuple(second)) == []


@pytest.mark.parametrize("deliver_to_loopback", [False, True], ids=["on-aws", "local-run"])
def test_a_loopback_uri_is_told_only_where_that_is_allowed(
    services: Services, store: SessionStore, sso: SingleSignOn, deliver_to_loopback: bool
) -> None:
    user_id, session_id = central_with_apps(services, sso, ("desktop", "billing"))
    delivery = RecordingDelivery()
    (outcome,) = backchannel(
        services, store, delivery, deliver_to_loopback=deliver_to_loopback
    ).sessions_ended([EndedSession(user_id, session_id)], 30.0)
    told = sorted(uri for uri, _ in delivery.received)
    if deliver_to_loopback:
        assert (told, outcome.skipped) == (
            ["http://127.0.0.1:8400/logout", "https://billing.example.test/logout"],
            (),
        )
    else:
        assert (told, outcome.skipped) == (["https://billing.example.test/logout"], ("desktop",))
    assert (outcome.undelivered, outcome.failure) == ((), None)
    assert grant_store_over(store).session_grants(user_id, session_id) == []


def test_a_sessions_grants_beyond_one_batch_write_are_all_deleted(
    services: Services, store: SessionStore, sso: SingleSignOn
) -> None:
    # Given a central session with 30 grants: more than one BatchWriteItem takes (25)
    user_id, session_id = central_with_apps(services, sso, ("spa",) * 30)
    grants = grant_store_over(store)
    assert len(grants.session_grants(user_id, session_id)) == 30
    # When it ends, then every grant is gone
    assert (
        backchannel(services, store, RecordingDelivery()).session_ended(user_id, session_id) == []
    )
    assert grants.session_grants(user_id, session_id) == []
