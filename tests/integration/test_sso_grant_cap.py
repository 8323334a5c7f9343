"""The cap of a central session's grants over each backend (in memory, moto, DynamoDB
Local): at the cap an app's exchange ends its own oldest grant, not another app's (the
session's oldest when it holds none); a burst of 24 exchanges on a session at its cap all
succeed and leave exactly the cap; an exchange whose answer was lost beyond botocore's
retries gets its tokens, and its grant lives (docs/sso.md, "The model")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.domain import Services
from harness.fakes import InMemoryStore
from harness.lost_answers import DynamoFaults, injected
from harness.memory_sso import InMemoryGrantStore
from harness.sso_domain import build_single_sign_on, grant_store_over
from session_service.domain.errors import Unavailable
from session_service.domain.ports import SessionStore
from session_service.domain.sso import grant_exchange
from session_service.domain.sso.provider import SingleSignOn
from tests.helpers import burst, outcome
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS
from tests.integration.sso_domain_flow import (
    APP,
    OTHER_APP,
    central,
    exchange,
    request,
    signed_in,
)

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


@pytest.fixture
def sso(services: Services, store: SessionStore) -> SingleSignOn:
    return build_single_sign_on(services, store)


def test_at_its_cap_an_apps_exchange_ends_its_own_oldest_grant_not_another_apps(
    services: Services, store: SessionStore
) -> None:
    # Given a session at its cap: another app's grant, the oldest, then the app's own
    cap = 4
    sso = build_single_sign_on(services, store, max_grants=cap)
    session = central(sso, signed_in(services))
    other = exchange(sso, sso.issue_code(session, request(OTHER_APP)), OTHER_APP)
    services.clock.advance(0.002)  # grant ids sort by their codes' millisecond
    own = []
    for _ in range(cap - 1):
        own.append(exchange(sso, sso.issue_code(session, request())).refresh_token)
        services.clock.advance(0.002)
    # When the app (an SPA renewing silently) exchanges another code
    exchange(sso, sso.issue_code(session, request()))
    # Then its own oldest grant ends, and the other app's lives on and refreshes
    assert sso.introspect(own[0]) == {"active": False}
    assert all(sso.introspect(token)["active"] is True for token in own[1:])
    assert sso.refresh(OTHER_APP, other.refresh_token).refresh_token
    grants = grant_store_over(store).session_grants(session.user_id, session.session_id)
    assert len(grants) == cap
    # And an app that holds none of the session's grants ends the session's oldest
    services.clock.advance(0.002)
    exchange(sso, sso.issue_code(session, request("app-three")), "app-three")
    assert sso.introspect(other.refresh_token) == {"active": False}
    grants = grant_store_over(store).session_grants(session.user_id, session.session_id)
    assert sorted(grant.client_id for grant in grants) == [APP, APP, APP, "app-three"]


def test_a_burst_of_24_exchanges_on_a_session_at_its_cap_all_succeed_and_keep_the_cap(
    services: Services, store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (the budget is the machine's, not the rule's: a loaded CI machine's DynamoDB Local can
    # take longer than 5 s to land 24; what is tested is that every one lands, none starved)
    monkeypatch.setattr(grant_exchange, "EXCHANGE_BUDGET_SECONDS", 60.0)
    # Given a central session holding its cap of grants, and 24 more codes of it
    cap = 12
    sso = build_single_sign_on(services, store, max_grants=cap)
    session = central(sso, signed_in(services))
    for _ in range(cap):
        exchange(sso, sso.issue_code(session, request()))
        services.clock.advance(0.002)
    codes = [sso.issue_code(session, request()) for _ in range(24)]
    # When they are exchanged at once, every one gets its tokens (never a 503)
    assert burst(24, lambda i: outcome(lambda: exchange(sso, codes[i]))) == {"ok": 24}
    # And the session holds exactly its cap
    grants = grant_store_over(store).session_grants(session.user_id, session.session_id)
    assert len(grants) == cap


def test_an_exchange_whose_answer_was_lost_beyond_retries_gets_its_tokens_and_its_grant(
    services: Services, store: SessionStore, sso: SingleSignOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = central(sso, signed_in(services))
    code = sso.issue_code(session, request())
    faults = DynamoFaults("post", choose=lambda operation, _: operation == "TransactWriteItems")
    if isinstance(store, InMemoryStore):
        # The in-memory store's transaction applied, then its answer lost
        applied = InMemoryGrantStore.exchange_code

        def lost(grants: InMemoryGrantStore, *args: Any, **kwargs: Any) -> None:
            applied(grants, *args, **kwargs)
            raise Unavailable(retry_after=1)

        with monkeypatch.context() as patched:
            patched.setattr(InMemoryGrantStore, "exchange_code", lost)
            tokens = exchange(sso, code)
    else:
        # Every attempt botocore makes is applied and its answer lost
        with injected(faults):
            tokens = exchange(sso, code)
        assert faults.injected["TransactWriteItems"] >= 1
    # Then the tokens are the grant's, which lives: they refresh and introspect as active
    assert sso.introspect(tokens.refresh_token)["active"] is True
    assert sso.refresh(APP, tokens.refresh_token).refresh_token
