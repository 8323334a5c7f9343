"""Signing in again on the hosted page (domain/sessions/renewal.py) over each backend (in
memory, moto, DynamoDB Local): the browser's central session is renewed only from its own
token (a central one, ct2./ct3.), never from an API session's; of 8 sign-ins from one
cookie at once one renews it and the others, racing it, join it (no other central session,
its apps' grants kept); each renewal is recorded as a sign-in."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from harness.domain import CLIENT, Services
from harness.sso_domain import build_single_sign_on
from session_service.domain.errors import ServiceError
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.domain.sso.provider import CodeRequest, SingleSignOn
from tests.helpers import burst
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS, account_events

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
BURST = 8
APP = "app-one"
REDIRECT = "https://app.example.test/callback"


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    # Room for the burst's sessions: an eviction by the cap would end the oldest, the
    # renewed one
    return services_with(throttle=ROOM_FOR_BURSTS, max_sessions_per_user=BURST + 2)


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def on_the_page(services: Services, cookie: str | None = None) -> IssuedTokens:
    """ada's sign-in on the hosted page, by the browser holding `cookie`."""
    return services.accounts.login(
        LoginRequest("ada", PASSWORD, CLIENT, replaces=cookie, central=True)
    )


def test_a_sign_in_renews_a_central_session_only_from_its_own_token(
    services: Services, sso: SingleSignOn
) -> None:
    # Given ada's API session (its refresh token, rt2.) in the browser's central cookie
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    api = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    assert api.refresh_token.startswith("rt2.")
    # When she signs in on the hosted page
    central = on_the_page(services, api.refresh_token)
    # Then that is a new central session, not the API session renewed
    assert central.session.session_id != api.session.session_id
    assert central.refresh_token.startswith("ct2.")
    assert sso.central_session(api.refresh_token) is None
    # And from the central session's own token, a sign-in again renews it
    again = on_the_page(services, central.refresh_token)
    assert again.session.session_id == central.session.session_id
    assert again.refresh_token.startswith("ct3.")


def reads_together(store: SessionStore, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Each thread's first read of a session waits until `count` threads have read it: all
    of them see it as it was, before any of their writes (else the burst's threads, which
    spend most of their time checking the password, would rarely overlap there)."""
    read = store.authorization_lookup
    together = threading.Barrier(count, timeout=30)
    waited = threading.local()

    def gated(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if not getattr(waited, "done", False):
            waited.done = True
            together.wait()
        return found

    monkeypatch.setattr(store, "authorization_lookup", gated)


def test_8_sign_ins_from_one_cookie_at_once_all_renew_it_and_start_nothing(
    services: Services, sso: SingleSignOn, store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given ada's central session in the browser, renewed once already (a session's first
    # renewal is kept apart by another condition: its step-ups must still be none)
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    first = on_the_page(services, on_the_page(services).refresh_token)
    renewed_id = first.session.session_id
    # And an app's grant on it
    signed_in_app = sso.central_session(first.refresh_token)
    assert signed_in_app is not None
    request = CodeRequest(APP, REDIRECT, "openid", "n-0S6_WzA2Mj", "challenge")
    code = sso.find_code(sso.issue_code(signed_in_app, request), APP)
    assert code is not None
    app_tokens = sso.exchange(code)
    issued: dict[int, IssuedTokens] = {}

    def sign_in_again(index: int) -> str:
        try:
            issued[index] = on_the_page(services, first.refresh_token)
        except ServiceError as refused:
            return type(refused).__name__
        return "renewed" if issued[index].session.session_id == renewed_id else "started"

    # When 8 sign-ins from that cookie run at once, each having read the session as it was
    # (the gate alone undone after: undo() would also take the stack's credentials away)
    with monkeypatch.context() as gate:
        reads_together(store, gate, BURST)
        outcomes = burst(BURST, sign_in_again)
    # Then each renewed it: one replaced the cookie's token, the others, racing it, joined
    assert outcomes == Counter({"renewed": BURST})
    # And each one's cookie names it, the cookie they all presented no longer does
    for tokens in issued.values():
        assert tokens.refresh_token.startswith("ct3.")
        found = sso.central_session(tokens.refresh_token)
        assert found is not None
        assert found.session_id == renewed_id
    assert sso.central_session(first.refresh_token) is None
    # And no other central session started: the renewed one lives, holding a token of
    # each (within its maximum), its grants with it
    live = services.sessions.list_sessions(first.session.user_id)
    assert [s.session_id for s in live] == [renewed_id]
    assert len(live[0].refresh_digests) == BURST
    assert len({t.refresh_token for t in issued.values()}) == BURST
    assert sso.refresh(APP, app_tokens.refresh_token).access_token
    # And one record of each renewal, as a sign-in's
    records = [e for e in account_events(store) if e.event_type == "SsoSessionRenewed"]
    assert [(e.session_id, e.ip, e.user_agent) for e in records] == [
        (renewed_id, CLIENT.ip, CLIENT.user_agent)
    ] * (1 + BURST)
