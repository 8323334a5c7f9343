"""Single sign-on's lifecycle over each backend (in memory, moto, DynamoDB Local): a central
session issues a code, the code's one exchange starts an app's grant, the grant's refresh
token rotates, and every grant ends with its central session. Under bursts: one code
exchanged 8 times at once gives one token set; one refresh token presented 8 times at once,
one winner. An app's access token is refused at the authorizer once its grant alone ends
(revoked, replayed, reused): the store reads the grant with the session."""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest

from harness.domain import AUDIENCE, CLIENT, ISSUER, Services
from harness.sso_domain import build_single_sign_on, grant_store_over
from session_service.domain.errors import InvalidGrant
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.keys.keyring import MacKeys
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.tokens import AccessTokenClaims
from session_service.domain.sso.grant_tokens import GrantTokens
from session_service.domain.sso.provider import AppTokens, SingleSignOn
from session_service.domain.sso.records import RACE_WINDOW_MS
from tests.helpers import burst, outcome
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS, account_events
from tests.integration.sso_domain_flow import (
    APP,
    OTHER_APP,
    PASSWORD,
    central,
    exchange,
    request,
    signed_in,
)

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

BURST = 8


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def test_the_cookie_of_a_live_session_names_its_central_session(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    found = central(sso, tokens)
    assert (found.user_id, found.session_id, found.username) == (
        tokens.session.user_id,
        tokens.session.session_id,
        "ada",
    )
    assert found.amr == ("pwd",)
    assert sso.central_session(None) is None
    assert sso.central_session("rt2.garbage") is None
    # An API session's refresh token (rt2.), genuine and current, names no central session
    api = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    assert api.refresh_token.startswith("rt2.")
    assert sso.central_session(api.refresh_token) is None
    services.ending.logout(tokens.session.user_id, tokens.session.session_id)
    assert sso.central_session(tokens.refresh_token) is None


def test_a_code_exchanged_once_gives_tokens_that_name_the_app_and_the_central_session(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    issued = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    access = services.access_tokens.verify(issued.access_token)
    assert (access.user_id, access.session_id) == (
        tokens.session.user_id,
        tokens.session.session_id,
    )
    access_claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert (access_claims["client_id"], access_claims["scope"], access_claims["aud"]) == (
        APP,
        "openid profile",
        AUDIENCE,
    )
    assert issued.id_token is not None
    assert jwt.get_unverified_header(issued.id_token)["typ"] == "JWT"
    id_claims = jwt.decode(issued.id_token, options={"verify_signature": False})
    assert {k: id_claims[k] for k in ("iss", "sub", "aud", "nonce", "sid", "amr")} == {
        "iss": ISSUER,
        "sub": tokens.session.user_id,
        "aud": APP,
        "nonce": "n-0S6_WzA2Mj",
        "sid": tokens.session.session_id,
        "amr": ["pwd"],
    }
    assert id_claims["preferred_username"] == "ada"
    assert issued.refresh_token.startswith("og2.")


def test_a_code_presented_again_is_refused_and_ends_the_grant_it_started(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    code = sso.issue_code(central(sso, tokens), request())
    first = exchange(sso, code)
    assert outcome(lambda: exchange(sso, code)) == "InvalidGrant"
    assert sso.introspect(first.refresh_token) == {"active": False}
    assert outcome(lambda: sso.refresh(APP, first.refresh_token)) == "InvalidGrant"
    # The central session and the app's next sign-in live on
    again = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    assert sso.introspect(again.refresh_token)["active"] is True


def test_a_code_is_its_clients_only_and_dies_with_its_minute(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    code = sso.issue_code(central(sso, tokens), request())
    assert sso.find_code(code, OTHER_APP) is None
    assert sso.find_code("not-a-code", APP) is None
    services.clock.advance(60)
    assert sso.find_code(code, APP) is None


def test_one_code_exchanged_8_times_at_once_gives_one_token_set(
    services: Services, sso: SingleSignOn, store: SessionStore
) -> None:
    tokens = signed_in(services)
    code = sso.issue_code(central(sso, tokens), request())
    issued: list[AppTokens] = []

    def attempt(_: int) -> str:
        return outcome(lambda: issued.append(exchange(sso, code)))

    assert burst(BURST, attempt) == {"ok": 1, "InvalidGrant": BURST - 1}
    assert len(issued) == 1
    # One sign-in, announced once (SsoSignIn, written with the grant)
    signed_in_events = [e for e in account_events(store) if e.event_type == "SsoSignIn"]
    assert [(e.client_id, e.session_id) for e in signed_in_events] == [
        (APP, tokens.session.session_id)
    ]


def test_a_refresh_token_rotates_and_its_reuse_ends_only_that_apps_grant(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    session = central(sso, tokens)
    app = exchange(sso, sso.issue_code(session, request()))
    other = exchange(sso, sso.issue_code(session, request(OTHER_APP)), OTHER_APP)
    rotated = sso.refresh(APP, app.refresh_token)
    assert rotated.refresh_token != app.refresh_token
    assert rotated.id_token is None
    assert outcome(lambda: sso.refresh(OTHER_APP, rotated.refresh_token)) == "InvalidGrant"
    # Moments after the rotation, the old token is a race of the app's own: refused alone
    assert outcome(lambda: sso.refresh(APP, app.refresh_token)) == "InvalidGrant"
    assert sso.introspect(rotated.refresh_token)["active"] is True
    # Later, it is a replay: the grant ends, its newest token with it
    services.clock.advance(RACE_WINDOW_MS / 1000)
    assert outcome(lambda: sso.refresh(APP, app.refresh_token)) == "InvalidGrant"
    assert outcome(lambda: sso.refresh(APP, rotated.refresh_token)) == "InvalidGrant"
    assert sso.introspect(other.refresh_token)["active"] is True
    assert sso.central_session(tokens.refresh_token) is not None


def test_one_refresh_token_presented_8_times_at_once_has_one_winner(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    app = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    issued: list[AppTokens] = []

    def attempt(_: int) -> str:
        return outcome(lambda: issued.append(sso.refresh(APP, app.refresh_token)))

    assert burst(BURST, attempt) == {"ok": 1, "InvalidGrant": BURST - 1}
    # The winner keeps the grant: its token is the grant's next
    (winner,) = issued
    assert sso.introspect(winner.refresh_token)["active"] is True
    assert outcome(lambda: sso.refresh(APP, winner.refresh_token)) == "ok"


def test_ending_the_central_session_ends_every_apps_grant_at_once(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    session = central(sso, tokens)
    apps = [exchange(sso, sso.issue_code(session, request(c)), c) for c in (APP, OTHER_APP)]
    assert [sso.introspect(a.access_token)["active"] for a in apps] == [True, True]
    services.ending.logout(session.user_id, session.session_id)
    for app in apps:
        assert sso.introspect(app.access_token) == {"active": False}
        assert sso.introspect(app.refresh_token) == {"active": False}
    assert outcome(lambda: sso.refresh(APP, apps[0].refresh_token)) == "InvalidGrant"


def test_a_code_of_a_central_session_that_ended_is_refused(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    session = central(sso, tokens)
    code = sso.issue_code(session, request())
    services.ending.logout(session.user_id, session.session_id)
    assert outcome(lambda: exchange(sso, code)) == "InvalidGrant"


def test_revoking_a_refresh_token_ends_its_grant_for_its_own_client_only(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    app = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    sso.revoke_refresh_token(OTHER_APP, app.refresh_token)
    assert sso.introspect(app.refresh_token)["active"] is True
    sso.revoke_refresh_token(APP, app.refresh_token)
    assert sso.introspect(app.refresh_token) == {"active": False}
    sso.revoke_refresh_token(APP, "og2.not-a-token")


def authorized(services: Services, access_token: str) -> list[str]:
    """The authorizer's outcome for the token, with a consistent read and an eventual one."""
    return [
        outcome(lambda: services.sessions.authorize(access_token, consistent=True)),
        outcome(lambda: services.sessions.authorize(access_token, consistent=False)),
    ]


def grant_of(services: Services, access_token: str) -> AccessTokenClaims:
    claims = services.access_tokens.verify(access_token)
    assert claims.grant_id is not None
    return claims


def test_revoking_an_apps_refresh_token_ends_its_access_token_at_the_authorizer_at_once(
    services: Services, sso: SingleSignOn
) -> None:
    # Given two apps signed in on one central session
    tokens = signed_in(services)
    session = central(sso, tokens)
    revoked = exchange(sso, sso.issue_code(session, request()))
    other = exchange(sso, sso.issue_code(session, request(OTHER_APP)), OTHER_APP)
    assert authorized(services, revoked.access_token) == ["ok", "ok"]
    # When the first app revokes its refresh token (RFC 7009 §2.1)
    sso.revoke_refresh_token(APP, revoked.refresh_token)
    # Then its access token is refused as an ended session's is; introspection agrees
    assert authorized(services, revoked.access_token) == ["InvalidToken", "InvalidToken"]
    assert sso.introspect(revoked.access_token) == {"active": False}
    assert outcome(lambda: sso.userinfo(revoked.access_token)) == "InvalidToken"
    # And the other app and the central session's own token live on
    assert authorized(services, other.access_token) == ["ok", "ok"]
    assert sso.introspect(other.access_token)["active"] is True
    assert authorized(services, tokens.access_token) == ["ok", "ok"]


def test_a_replayed_code_ends_the_access_token_of_its_first_exchange(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    code = sso.issue_code(central(sso, tokens), request())
    first = exchange(sso, code)
    assert authorized(services, first.access_token) == ["ok", "ok"]
    # When the code is presented again (RFC 6749 §4.1.2)
    assert outcome(lambda: exchange(sso, code)) == "InvalidGrant"
    # Then the token of its first exchange is refused; the central session lives on
    assert authorized(services, first.access_token) == ["InvalidToken", "InvalidToken"]
    assert authorized(services, tokens.access_token) == ["ok", "ok"]


def test_a_reused_refresh_token_ends_the_access_tokens_of_its_grant(
    services: Services, sso: SingleSignOn
) -> None:
    tokens = signed_in(services)
    app = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    rotated = sso.refresh(APP, app.refresh_token)
    services.clock.advance(RACE_WINDOW_MS / 1000)
    assert outcome(lambda: sso.refresh(APP, app.refresh_token)) == "InvalidGrant"
    assert authorized(services, app.access_token) == ["InvalidToken", "InvalidToken"]
    assert authorized(services, rotated.access_token) == ["InvalidToken", "InvalidToken"]


def test_the_lookup_finds_the_session_only_through_a_grant_that_hangs_on_it(
    services: Services, sso: SingleSignOn, store: SessionStore
) -> None:
    # Given a grant on one central session of ada's, and another session of hers
    tokens = signed_in(services)
    issued = exchange(sso, sso.issue_code(central(sso, tokens), request()))
    app = grant_of(services, issued.access_token)
    second = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT)).session
    user_id, grant_id = app.user_id, app.grant_id

    def found(session_id: str, grant: str | None, consistent: bool = True) -> tuple[str, str]:
        session, profile = store.authorization_lookup(user_id, session_id, consistent, grant)
        assert profile is not None  # the profile is read whatever the grant
        return (session.session_id if session else "none", profile.username)

    # Then the grant finds its own session, by either read
    assert found(app.session_id, grant_id) == (app.session_id, "ada")
    assert found(app.session_id, grant_id, consistent=False) == (app.session_id, "ada")
    # And neither another session of the user nor a grant that does not exist does
    assert found(second.session_id, grant_id) == ("none", "ada")
    assert found(app.session_id, "0b0e6a53-4a51-4c3a-9a55-2b5d0f1e8a3c") == ("none", "ada")
    # And without a grant id, each session is found as before
    assert found(second.session_id, None) == (second.session_id, "ada")


def test_a_burst_of_exchanges_on_a_session_at_its_cap_ends_exactly_as_many_oldest_grants(
    services: Services, store: SessionStore
) -> None:
    # Given a central session holding its cap of grants (a small cap: the same rule)
    cap = 12
    sso = build_single_sign_on(services, store, max_grants=cap)
    session = central(sso, signed_in(services))
    held = []
    for _ in range(cap):
        held.append(exchange(sso, sso.issue_code(session, request())).refresh_token)
        services.clock.advance(0.002)  # grant ids sort by their codes' millisecond
    # And 8 more codes of the same session
    codes = [sso.issue_code(session, request()) for _ in range(BURST)]
    services.clock.advance(0.002)
    # When they are exchanged at once
    issued: list[str] = []
    assert burst(
        BURST, lambda i: outcome(lambda: issued.append(exchange(sso, codes[i]).refresh_token))
    ) == {"ok": BURST}
    # Then the session holds exactly its cap: the 8 new grants and the newest of the others
    grants = grant_store_over(store).session_grants(session.user_id, session.session_id)
    live = {grant.grant_id for grant in grants}
    tokens = GrantTokens(MacKeys(services.keys, services.clock))
    assert len(live) == cap
    assert {tokens.parse(token).grant_id for token in issued} <= live
    assert {tokens.parse(token).grant_id for token in held[BURST:]} <= live
    assert live.isdisjoint(tokens.parse(token).grant_id for token in held[:BURST])
    # And an evicted grant is as a revoked one: its refresh token is refused
    with pytest.raises(InvalidGrant):
        sso.refresh(APP, held[0])
    assert sso.introspect(held[0])["active"] is False
