"""A central session's lifetime over each backend, on a fixed clock: its own timeouts
(SSO_SESSION_IDLE_TIMEOUT_SECONDS, SSO_SESSION_ABSOLUTE_TIMEOUT_SECONDS), an idle timeout
that the apps' use (an authorization, an app's refresh) pushes back with one write at most
per step, and never beyond the absolute timeout."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Services
from harness.sso_domain import build_single_sign_on
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.domain.sso.provider import CodeRequest, SingleSignOn
from tests.integration.backends import BACKENDS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
APP = "app-one"
IDLE = 600
ABSOLUTE = 1800


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    # The service's sessions last longer: only the central session's timeouts apply here
    return services_with(
        idle_timeout_seconds=3600,
        absolute_timeout_seconds=7200,
        central_idle_timeout_seconds=IDLE,
        central_absolute_timeout_seconds=ABSOLUTE,
    )


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def signed_in(services: Services, central: bool = True) -> IssuedTokens:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    return services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT, central=central))


def authorize(sso: SingleSignOn, cookie: str) -> str:
    """An app's authorization with the central session: its code."""
    central = sso.central_session(cookie)
    assert central is not None
    request = CodeRequest(APP, "https://app.example.test/cb", "openid", None, "challenge")
    return sso.issue_code(central, request)


def test_a_central_session_has_its_own_timeouts(services: Services) -> None:
    # When ada signs in on the hosted page (a central session) and through the API
    now = int(services.clock() * 1000)
    central = signed_in(services)
    api = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    # Then the central session has SSO_SESSION_*'s, the API's session the session's
    assert central.session.idle_expires_at == now + IDLE * 1000
    assert central.session.absolute_expires_at == now + ABSOLUTE * 1000
    assert api.session.idle_expires_at == now + 3600 * 1000
    assert central.refresh_token.startswith("ct2.")
    assert api.refresh_token.startswith("rt2.")


def test_without_an_apps_use_the_central_session_idles_out(
    services: Services, sso: SingleSignOn
) -> None:
    cookie = signed_in(services).refresh_token
    services.clock.advance(IDLE - 1)
    assert sso.central_session(cookie) is not None
    services.clock.advance(1)
    assert sso.central_session(cookie) is None


def test_an_authorization_pushes_the_idle_timeout_back_once_per_step(
    services: Services, sso: SingleSignOn, store: SessionStore
) -> None:
    # Given a central session used by an app 500 s after its sign-in
    tokens = signed_in(services)
    cookie, session = tokens.refresh_token, tokens.session
    services.clock.advance(500)
    used_at = int(services.clock() * 1000)
    authorize(sso, cookie)
    extended, _ = store.authorization_lookup(session.user_id, session.session_id)
    assert extended is not None
    assert extended.idle_expires_at == used_at + IDLE * 1000
    assert extended.last_used_at == used_at
    # When another app authorizes 30 s later (within the step: no write)
    services.clock.advance(30)
    authorize(sso, cookie)
    unchanged, _ = store.authorization_lookup(session.user_id, session.session_id)
    assert unchanged == extended
    # Then the session lives past its first idle timeout, until IDLE after its last use
    services.clock.advance(IDLE - 30 - 1)
    assert sso.central_session(cookie) is not None
    services.clock.advance(1)
    assert sso.central_session(cookie) is None


def test_an_apps_refresh_pushes_the_idle_timeout_back(
    services: Services, sso: SingleSignOn
) -> None:
    # Given an app's grant on the central session
    cookie = signed_in(services).refresh_token
    code = sso.find_code(authorize(sso, cookie), APP)
    assert code is not None
    app_tokens = sso.exchange(code)
    # When the app refreshes 500 s later
    services.clock.advance(500)
    sso.refresh(APP, app_tokens.refresh_token)
    # Then the central session (and the grant) outlive the idle timeout from the sign-in
    services.clock.advance(500)
    assert sso.central_session(cookie) is not None


def test_use_never_carries_the_central_session_past_its_absolute_timeout(
    services: Services, sso: SingleSignOn
) -> None:
    cookie = signed_in(services).refresh_token
    for _ in range(3):  # used every 500 s: the idle timeout never comes
        services.clock.advance(500)
        authorize(sso, cookie)
    services.clock.advance(ABSOLUTE - 3 * 500 - 1)
    assert sso.central_session(cookie) is not None
    services.clock.advance(1)
    assert sso.central_session(cookie) is None


def test_signing_in_again_on_the_page_renews_the_central_session_in_place(
    services: Services, sso: SingleSignOn, store: SessionStore
) -> None:
    # Given ada's central session, 500 s old
    first = signed_in(services)
    services.clock.advance(500)
    now = int(services.clock() * 1000)
    # When she signs in again on the page, the browser sending its cookie
    again = services.accounts.login(
        LoginRequest("ada", PASSWORD, CLIENT, replaces=first.refresh_token, central=True)
    )
    # Then it is the same session, proven now, holding the new cookie's token alone
    assert again.session.session_id == first.session.session_id
    assert again.refresh_token.startswith("ct3.")
    renewed = sso.central_session(again.refresh_token)
    assert renewed is not None
    assert renewed.auth_time == now
    assert sso.central_session(first.refresh_token) is None
    stored, _ = store.authorization_lookup(first.session.user_id, first.session.session_id)
    assert stored is not None
    assert stored.refresh_digests == again.session.refresh_digests
    assert len(stored.refresh_digests) == 1
    assert stored.idle_expires_at == now + IDLE * 1000
