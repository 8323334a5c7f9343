"""The session store's conditions, one suite on three backends: the in-memory fake the unit
tests use, the DynamoDB store on moto, and the DynamoDB store on AWS's DynamoDB Local. The
fake cannot drift from the real store, nor moto from AWS's implementation, on these paths
without a red test."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from botocore.client import BaseClient

from harness.fakes import InMemoryStore
from session_service.domain.errors import Unavailable
from session_service.domain.models import Credential, EndedSessions, Session, UserProfile
from session_service.domain.ports import (
    CredentialChanged,
    NewSession,
    NotBeforeRaise,
    Rotation,
    RotationRefused,
    SessionStore,
    StaleWrite,
)
from session_service.domain.sessions.lifecycle import (
    MAX_ENDED_AT_ONCE,
    MAX_PRUNED_AT_ONCE,
    MAX_USER_AGENT_LENGTH,
)
from tests import helpers
from tests.integration.backends import BACKENDS

NOW = 1_800_000_000_000
HOUR = 3_600_000


pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)


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


def a_rotation(user_id: str, session_id: str, not_before: int | None = None) -> Rotation:
    """The exchange of a_session's refresh digest, a moment after it started."""
    return Rotation(
        user_id=user_id,
        session_id=session_id,
        presented_digest="digest",
        new_digest="fresh",
        now=NOW + 1,
        idle_expires_at=NOW + HOUR,
        absolute_expires_at=NOW + 10 * HOUR,
        new_generation=1,
        not_before=not_before,
    )


@pytest.fixture
def transaction_sizes(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of items of each transaction the store sends (or, in memory, would)."""
    if isinstance(store, InMemoryStore):
        return store.transaction_sizes
    sizes: list[int] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems":
            sizes.append(len(params["TransactItems"]))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return sizes


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
    rotation = a_rotation(user_id, session.session_id, not_before=NOW + 1)
    with pytest.raises(RotationRefused):
        store.rotate(rotation)
    rotated = store.rotate(dataclasses.replace(rotation, not_before=NOW))
    assert rotated.refresh_digests == {"fresh"}


def credential_of(store: SessionStore, user_id: str) -> Credential:
    credential = store.find_credential(f"u{user_id[:8]}")
    assert credential is not None
    return credential


def read_then_changed(store: SessionStore) -> tuple[str, Credential]:
    """A user whose credential was read, and then changed by a password change."""
    user_id = a_user(store)
    read = credential_of(store, user_id)
    started(store, a_session(user_id), credential=read, new_password_hash="changed")
    return user_id, read


def test_a_start_on_a_credential_changed_since_it_was_read_writes_nothing(
    store: SessionStore,
) -> None:
    user_id, read = read_then_changed(store)
    # A login's start, or a second change, from the earlier read is refused whole
    later = a_session(user_id, created_at=NOW + 1)
    with pytest.raises(CredentialChanged):
        started(store, later, credential=read)
    with pytest.raises(CredentialChanged):
        started(store, later, credential=read, new_password_hash="again")
    assert len(session_ids(store, user_id)) == 1
    current = credential_of(store, user_id)
    assert (current.password_hash, current.password_version) == ("changed", 1)


def test_a_rehash_of_a_credential_changed_since_it_was_read_changes_nothing(
    store: SessionStore,
) -> None:
    user_id, read = read_then_changed(store)
    store.replace_password_hash(read, "rehash of the old password")
    current = credential_of(store, user_id)
    assert (current.password_hash, current.password_version) == ("changed", 1)


# -- DynamoDB's limits ---------------------------------------------------------------------

# The largest inputs the edge lets through into a key: a username (3 to 64 characters of
# an ASCII set), a user id named by a PasswordChanged event (up to 128 characters, here of
# 4 UTF-8 bytes each); the throttle's keys, with a client address, are test_throttle_store's.
LONGEST_USERNAME = "a" * 64
LONGEST_EVENT_USER_ID = "\U0001d54f" * 128
# Past DynamoDB's limits: 2,048 bytes for a partition key, 1,024 for a sort key.
OVERLONG = "x" * 2_100


def test_the_longest_username_the_edge_admits_is_stored_found_and_changed(
    store: SessionStore,
) -> None:
    user_id = str(uuid.uuid4())
    credential = Credential(LONGEST_USERNAME, LONGEST_USERNAME, user_id, "hash")
    store.create_user(credential, UserProfile(user_id, LONGEST_USERNAME, NOW))
    assert store.find_credential(LONGEST_USERNAME) == credential
    store.replace_password_hash(credential, "rehashed")
    found = store.find_credential(LONGEST_USERNAME)
    assert found is not None
    assert found.password_hash == "rehashed"
    started(store, a_session(user_id), credential=found, new_password_hash="changed")
    changed = store.find_credential(LONGEST_USERNAME)
    assert changed is not None
    assert (changed.password_hash, changed.password_version) == ("changed", 1)


def test_the_longest_user_id_an_event_may_name_is_an_unknown_user(store: SessionStore) -> None:
    assert store.load_user(LONGEST_EVENT_USER_ID) is None
    assert store.find_profile(LONGEST_EVENT_USER_ID) is None
    assert store.authorization_lookup(LONGEST_EVENT_USER_ID, str(uuid.uuid4())) == (None, None)
    with pytest.raises(StaleWrite):
        store.raise_not_before(NotBeforeRaise(LONGEST_EVENT_USER_ID, NOW, 0))


def test_a_key_past_dynamodbs_limits_is_refused_alike_by_every_backend(
    store: SessionStore,
) -> None:
    # No edge lets such a key through; should one come, every backend refuses it (a 503
    # and an error log), none answers "not found" from a key DynamoDB would not read, nor
    # writes it. A Query by partition is the one request DynamoDB answers: no item has
    # such a key.
    user_id = a_user(store)
    stranger = Credential(OVERLONG, OVERLONG, user_id, "hash")
    requests = (
        lambda: store.find_credential(OVERLONG),
        lambda: store.find_profile(OVERLONG),
        lambda: store.authorization_lookup(OVERLONG, "s"),
        lambda: store.authorization_lookup(user_id, OVERLONG),
        lambda: store.replace_password_hash(stranger, "rehashed"),
        lambda: store.end_sessions(EndedSessions("r", user_id, (OVERLONG,), "logout", NOW), NOW),
        lambda: store.rotate(a_rotation(user_id, OVERLONG)),
        lambda: store.create_user(stranger, UserProfile(str(uuid.uuid4()), "x", NOW)),
    )
    for request in requests:
        with pytest.raises(Unavailable):
            request()
    assert store.load_user(OVERLONG) is None
    assert session_ids(store, user_id) == set()


def test_the_largest_transaction_the_domain_builds_is_accepted(
    store: SessionStore, transaction_sizes: list[int]
) -> None:
    # Given a user with as many live sessions as one transaction ends (more than
    # MAX_SESSIONS_PER_USER=50 allows) and as many expired items as one start removes,
    # each with the longest user agent kept
    user_id = a_user(store)
    agent = "A" * MAX_USER_AGENT_LENGTH
    expired = [
        dataclasses.replace(a_session(user_id, lasts=10), user_agent=agent)
        for _ in range(MAX_PRUNED_AT_ONCE)
    ]
    live = [
        dataclasses.replace(a_session(user_id, created_at=NOW + 20), user_agent=agent)
        for _ in range(MAX_ENDED_AT_ONCE)
    ]
    for session in [*expired, *live]:
        started(store, session)
    # When a password change ends every live one and removes every expired one at once
    transaction_sizes.clear()
    credential = store.find_credential(f"u{user_id[:8]}")
    assert credential is not None
    change = a_session(user_id, created_at=NOW + 30)
    record = EndedSessions(
        str(uuid.uuid4()),
        user_id,
        tuple(s.session_id for s in live),
        "password_changed",
        NOW + 30,
    )
    started(
        store,
        change,
        ended=record,
        pruned=tuple(expired),
        credential=credential,
        new_password_hash="changed",
    )
    # Then it all happened, in one transaction of 84 items (each ended and each removed
    # session, the new one, the profile, the credential and the record of the ending)
    assert transaction_sizes == [84]
    assert session_ids(store, user_id) == {change.session_id}


def test_the_largest_revocation_of_a_password_changed_elsewhere_is_accepted(
    store: SessionStore, transaction_sizes: list[int]
) -> None:
    user_id = a_user(store)
    live = [a_session(user_id) for _ in range(MAX_ENDED_AT_ONCE)]
    for session in live:
        started(store, session)
    state = store.load_user(user_id)
    assert state is not None
    ended = EndedSessions(
        str(uuid.uuid4()), user_id, tuple(s.session_id for s in live), "password_changed", NOW
    )
    store.raise_not_before(NotBeforeRaise(user_id, NOW + 1, state.profile.session_version, ended))
    assert session_ids(store, user_id) == set()
