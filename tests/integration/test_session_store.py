"""The session store's conditions, one suite on two backends: the in-memory fake the unit
tests use and the DynamoDB store on moto. The fake cannot drift from the real store on
these paths without a red test."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from session_service.dynamo import dynamodb_client
from session_service.models import Credential, EndedSessions, Session, UserProfile
from session_service.ports import (
    NewSession,
    NotBeforeRaise,
    Rotation,
    RotationRefused,
    SessionStore,
    StaleWrite,
)
from session_service.store import DynamoSessionStore
from tests import helpers
from tests.fakes import InMemoryStore
from tests.integration.conftest import Stack

NOW = 1_800_000_000_000
HOUR = 3_600_000


@pytest.fixture(params=["memory", "moto"])
def store(request: pytest.FixtureRequest, stack: Stack) -> SessionStore:
    if request.param == "memory":
        return InMemoryStore()
    return DynamoSessionStore(dynamodb_client(), stack.table)


def a_user(store: SessionStore) -> str:
    user_id = str(uuid.uuid4())
    credential = Credential(f"u{user_id[:8]}", f"u{user_id[:8]}", user_id, "hash")
    store.create_user(credential, UserProfile(user_id, credential.username, NOW))
    return user_id


def a_session(user_id: str, created_at: int = NOW, lasts: int = HOUR) -> Session:
    return helpers.a_session(user_id, created_at, lasts, 10 * HOUR)


def started(store: SessionStore, session: Session, **changes: object) -> None:
    state = store.load_user(session.user_id)
    assert state is not None
    store.start_session(
        NewSession(session=session, expected_version=state.profile.session_version, **changes)  # type: ignore[arg-type]
    )


def ending(user_id: str, *sessions: Session, at: int = NOW) -> EndedSessions:
    ids = tuple(s.session_id for s in sessions)
    return EndedSessions(str(uuid.uuid4()), user_id, ids, "logout", at)


def session_ids(store: SessionStore, user_id: str) -> set[str]:
    state = store.load_user(user_id)
    assert state is not None
    return {s.session_id for s in state.sessions}


def test_a_live_session_ends_once(store: SessionStore) -> None:
    user_id = a_user(store)
    session = a_session(user_id)
    started(store, session)
    assert store.end_sessions(ending(user_id, session), NOW + 1) is True
    assert store.end_sessions(ending(user_id, session), NOW + 1) is False
    assert session_ids(store, user_id) == set()
    assert store.authorization_lookup(user_id, session.session_id)[0] is None


def test_an_expired_or_unknown_session_does_not_end(store: SessionStore) -> None:
    user_id = a_user(store)
    session = a_session(user_id, lasts=10)
    started(store, session)
    assert store.end_sessions(ending(user_id, session, at=NOW + 10), NOW + 10) is False
    stranger = a_session(a_user(store))
    assert store.end_sessions(ending(user_id, stranger), NOW) is False
    assert session_ids(store, user_id) == {session.session_id}


def test_ending_many_is_all_or_nothing(store: SessionStore) -> None:
    user_id = a_user(store)
    first, second = a_session(user_id), a_session(user_id)
    started(store, first)
    started(store, second)
    store.end_sessions(ending(user_id, first), NOW)
    assert store.end_sessions(ending(user_id, first, second), NOW) is False
    assert session_ids(store, user_id) == {second.session_id}


def test_a_start_on_a_stale_version_or_a_missing_profile_writes_nothing(
    store: SessionStore,
) -> None:
    user_id = a_user(store)
    with pytest.raises(StaleWrite):
        store.start_session(NewSession(session=a_session(user_id), expected_version=7))
    with pytest.raises(StaleWrite):
        store.start_session(NewSession(session=a_session(str(uuid.uuid4())), expected_version=0))
    assert session_ids(store, user_id) == set()


def test_a_start_that_ends_an_ended_session_writes_nothing(store: SessionStore) -> None:
    user_id = a_user(store)
    gone = a_session(user_id)
    started(store, gone)
    store.end_sessions(ending(user_id, gone), NOW)
    new = a_session(user_id, created_at=NOW + 1)
    with pytest.raises(StaleWrite):
        started(store, new, ended=ending(user_id, gone, at=NOW + 1))
    assert session_ids(store, user_id) == set()


def test_a_start_removes_expired_items_but_not_revived_ones(store: SessionStore) -> None:
    user_id = a_user(store)
    expired = a_session(user_id, lasts=10)
    started(store, expired)
    later = a_session(user_id, created_at=NOW + 10)
    started(store, later, pruned=(expired,))
    assert session_ids(store, user_id) == {later.session_id}
    # an item that is live at the start's moment is not "expired"
    live = a_session(user_id, created_at=NOW + 20)
    started(store, live)
    with pytest.raises(StaleWrite):
        started(store, a_session(user_id, created_at=NOW + 21), pruned=(live,))


def test_raising_not_before_ends_the_older_sessions_on_the_version_read(
    store: SessionStore,
) -> None:
    user_id = a_user(store)
    older, newer = a_session(user_id), a_session(user_id, created_at=NOW + 5)
    started(store, older)
    started(store, newer)
    state = store.load_user(user_id)
    assert state is not None
    version = state.profile.session_version
    stale = NotBeforeRaise(user_id, NOW + 2, version - 1, ending(user_id, older, at=NOW + 3))
    with pytest.raises(StaleWrite):
        store.raise_not_before(stale)
    store.raise_not_before(NotBeforeRaise(user_id, NOW + 2, version, ending(user_id, older)))
    assert session_ids(store, user_id) == {newer.session_id}
    # never backwards, nor twice to the same time
    with pytest.raises(StaleWrite):
        store.raise_not_before(NotBeforeRaise(user_id, NOW + 2, version + 1))


def test_no_rotation_for_a_session_created_before_not_before(store: SessionStore) -> None:
    user_id = a_user(store)
    session = a_session(user_id)
    started(store, session)
    rotation = Rotation(
        user_id=user_id,
        session_id=session.session_id,
        presented_digest="digest",
        new_digest="fresh",
        now=NOW + 1,
        idle_expires_at=NOW + HOUR,
        absolute_expires_at=session.absolute_expires_at,
        new_generation=1,
        not_before=NOW + 1,
    )
    with pytest.raises(RotationRefused):
        store.rotate(rotation)
    rotated = store.rotate(dataclasses.replace(rotation, not_before=NOW))
    assert rotated.refresh_digests == {"fresh"}
