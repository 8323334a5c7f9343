"""No token is minted for a session created before the user's not_before, with the
interleavings forced at the real store on moto: a login racing a PasswordChanged
consumer, and a consumer that fails half-way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from harness.stack import Stack
from session_service import wiring
from session_service.adapters.dynamo import dynamodb_client
from session_service.adapters.store import DynamoSessionStore
from session_service.config import get_settings
from session_service.domain.errors import Unavailable
from session_service.domain.models import ClientInfo
from session_service.domain.ports import NewSession
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_ending import SessionEnding
from session_service.domain.sessions.session_records import StartRequest
from session_service.domain.sessions.tokens import RefreshTokens
from tests.helpers import assert_error, authorize, login, register

CLIENT = ClientInfo(ip="198.51.100.1", user_agent="pytest")


class RacedStore(DynamoSessionStore):
    """The real store, with something that happens between a start's read and its write."""

    def __init__(self, table: str, before_start: Callable[[NewSession], None]) -> None:
        super().__init__(dynamodb_client(), table)
        self._before_start: Callable[[NewSession], None] | None = before_start

    def start_session(self, start: NewSession) -> None:
        hook, self._before_start = self._before_start, None
        if hook is not None:
            hook(start)
        super().start_session(start)


def services(store: DynamoSessionStore) -> tuple[SessionService, SessionEnding]:
    refresh_tokens = RefreshTokens(wiring.mac_keys())
    sessions = SessionService(
        store,
        wiring.access_tokens(),
        refresh_tokens,
        wiring.session_policy(get_settings()),
        sleep=lambda _: None,
    )
    ending = SessionEnding(store, sessions, wiring.access_tokens(), refresh_tokens)
    return sessions, ending


def assert_no_session_predates_not_before(stack: Stack, user_id: str) -> None:
    items = [i for i in stack.items() if i["pk"]["S"] == f"USER#{user_id}"]
    profile = next(i for i in items if i["sk"]["S"] == "PROFILE")
    not_before = int(profile.get("not_before", {"N": "0"})["N"])
    created = [int(i["created_at"]["N"]) for i in items if i["sk"]["S"].startswith("SESSION#")]
    assert all(moment >= not_before for moment in created), (not_before, created)


def test_a_login_racing_a_password_change_elsewhere_reads_again(stack: Stack) -> None:
    # Given a user with a session, and a login that has read the user's state
    user_id = register(stack)
    older = login(stack)
    plain = DynamoSessionStore(dynamodb_client(), stack.table)
    _, ending = services(plain)

    def password_changes_meanwhile(start: NewSession) -> None:
        # When a PasswordChanged lands after the login's read, dated after its session
        ending.end_sessions_before(user_id, start.session.created_at + 1)

    sessions, _ = services(RacedStore(stack.table, password_changes_meanwhile))
    credential = plain.find_credential("ada")
    issued = sessions.start(StartRequest(user_id, CLIENT, credential=credential))
    # Then the login's session was created after the change (it read again), the older
    # one is gone, and no session item predates not_before
    state = plain.load_user(user_id)
    assert state is not None
    assert state.profile.not_before is not None
    assert issued.session.created_at >= state.profile.not_before
    assert [s.session_id for s in state.sessions] == [issued.session.session_id]
    assert_no_session_predates_not_before(stack, user_id)
    # And the older session mints nothing: its refresh and access tokens are refused
    refused = stack.http("POST", "/auth/refresh", {"refresh_token": older["refresh_token"]})
    assert_error(refused, 401, "invalid_grant")
    assert authorize(stack, older["access_token"]) == {"isAuthorized": False}
    assert authorize(stack, issued.access_token)["isAuthorized"] is True


def test_a_consumer_that_fails_half_way_changes_nothing_and_its_retry_everything(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two sessions, and DynamoDB failing the consumer's write
    user_id = register(stack)
    first, second = login(stack), login(stack)
    _, ending = services(DynamoSessionStore(dynamodb_client(), stack.table))
    original = BaseClient._make_api_call

    def failing(client: BaseClient, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems":
            error = {"Error": {"Code": "InternalServerError", "Message": "boom"}}
            raise ClientError(error, operation)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing)
    with pytest.raises(Unavailable):
        ending.end_sessions_before(user_id, _now_ms())
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    # Then nothing changed: not_before did not rise, and the sessions still refresh (the
    # change has not happened yet, for this service); nothing predates not_before
    assert_no_session_predates_not_before(stack, user_id)
    refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert refreshed.status == 200
    # When the event is retried
    assert ending.end_sessions_before(user_id, _now_ms()) == 2
    # Then both sessions are over, and refreshing either mints nothing
    assert_no_session_predates_not_before(stack, user_id)
    for tokens in (refreshed.json(), second):
        again = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
        assert_error(again, 401, "invalid_grant")


def _now_ms() -> int:
    return int(time.time() * 1000) + 1
