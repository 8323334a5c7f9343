"""A session's step-ups in the store, on every backend: each kept apart by its proof id
(only its client's tokens name it), the oldest leaving as the domain asks, and an item
written before step-ups were kept apart given its map once."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from harness.fakes import InMemoryStore
from session_service.adapters.store import DynamoSessionStore
from session_service.adapters.store_items import session_key
from session_service.domain.models import Credential, Session, StepUpProof, UserProfile
from session_service.domain.ports import NewSession, Reauthentication, SessionStore, StaleWrite
from tests import helpers
from tests.integration.backends import BACKENDS

NOW = 1_800_000_000_000
HOUR = 3_600_000

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)


def _started(store: SessionStore) -> Session:
    user_id = str(uuid.uuid4())
    credential = Credential(f"u{user_id[:8]}", f"u{user_id[:8]}", user_id, "hash")
    store.create_user(credential, UserProfile(user_id, credential.username, NOW))
    session = helpers.a_session(user_id, NOW, HOUR, 10 * HOUR)
    store.start_session(NewSession(session=session, expected_version=0))
    return session


def _step_up(
    session: Session, proof: StepUpProof, replaced: bool, dropped: tuple[str, ...] = ()
) -> Reauthentication:
    credential = Credential(
        f"u{session.user_id[:8]}", f"u{session.user_id[:8]}", session.user_id, "hash"
    )
    return Reauthentication(
        credential=credential,
        session_id=session.session_id,
        new_digest=f"digest-{proof.proof_id}",
        generation=0,
        now=proof.auth_time,
        step_up=proof,
        replaced_step_ups=replaced,
        dropped_step_ups=dropped,
        idle_expires_at=NOW + HOUR,
        absolute_expires_at=NOW + 10 * HOUR,
        not_before=None,
        max_digests=16,
    )


def _from_before_step_ups(store: SessionStore, session: Session) -> None:
    """The session's item as a version before step-ups were kept apart wrote it."""
    if isinstance(store, InMemoryStore):
        key = (session.user_id, session.session_id)
        store.sessions[key] = dataclasses.replace(store.sessions[key], step_ups=None)
        return
    assert isinstance(store, DynamoSessionStore)
    store._db.update_item(
        TableName=store._table,
        Key=session_key(session.user_id, session.session_id),
        UpdateExpression="REMOVE step_ups",
    )


def _step_ups(store: SessionStore, session: Session) -> tuple[StepUpProof, ...] | None:
    state = store.load_user(session.user_id)
    assert state is not None
    (found,) = state.sessions
    return found.step_ups


def test_a_sessions_step_ups_are_kept_apart_and_an_old_item_gets_them_once(
    store: SessionStore,
) -> None:
    # Given a session whose item is from before step-ups were kept apart
    session = _started(store)
    user_id = session.user_id
    _from_before_step_ups(store, session)
    assert _step_ups(store, session) is None
    # When a step-up lands, its map is written whole, once
    first = StepUpProof("A" * 22, NOW + 1, ("pwd", "otp"))
    store.reauthenticate(_step_up(session, first, replaced=True))
    assert _step_ups(store, session) == (first,)
    with pytest.raises(StaleWrite):
        store.reauthenticate(_step_up(session, StepUpProof("B" * 22, NOW + 2, ("pwd",)), True))
    # Then later ones join it, the oldest leaving as asked; the session's start stays
    second = StepUpProof("C" * 22, NOW + 3, ("hwk", "user"))
    store.reauthenticate(_step_up(session, second, replaced=False, dropped=(first.proof_id,)))
    assert _step_ups(store, session) == (second,)
    state = store.load_user(user_id)
    assert state is not None
    assert state.sessions[0].proven(None) == session.proven(None)
