"""Single sign-on's codes and grants in memory (GrantStore), over the in-memory store (its
lock and its sessions): the DynamoDB store's conditions, one for one
(adapters/grant_store.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.fakes import InMemoryStore
from harness.key_limits import check_keys
from session_service.adapters.grant_store import code_key
from session_service.adapters.store_items import grant_key
from session_service.domain.models import AccountEvent, Millis
from session_service.domain.ports import StaleWrite
from session_service.domain.sso.records import (
    AuthorizationCode,
    CentralSessionEnded,
    CodeSpent,
    Grant,
    GrantsChanged,
    GrantSlots,
)


class InMemoryGrantStore:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        # The store's own: every grant store over it shares them
        self.codes = store.sso_codes
        self.grants = store.sso_grants

    def _call(self, name: str) -> None:
        self.store.calls.append(name)

    def put_code(self, code: AuthorizationCode) -> None:
        with self.store._lock:
            self._call("put_code")
            check_keys(code_key(code.digest))
            self.codes.setdefault(code.digest, code)

    def find_code(self, digest: str) -> AuthorizationCode | None:
        with self.store._lock:
            self._call("find_code")
            return self.codes.get(digest)

    def grant_slots(self, user_id: str, session_id: str, cap: int) -> GrantSlots:
        with self.store._lock:
            self._call("grant_slots")
            held = [k for k in sorted(self.grants) if k[:2] == (user_id, session_id)][:cap]
            version = self.store.sso_grant_versions.get((user_id, session_id), 0)
            return GrantSlots(
                version,
                tuple(grant_id for (_, _, grant_id) in held),
                tuple(self.grants[k].client_id for k in held),
            )

    def exchange_code(
        self,
        code: AuthorizationCode,
        grant: Grant,
        event: AccountEvent,
        version: int = 0,
        evict: str | None = None,
    ) -> None:
        with self.store._lock:
            self._call("exchange_code")
            session = (grant.user_id, grant.session_id)
            check_keys(code_key(code.digest), grant_key(*_id(grant)))
            stored = self.codes.get(code.digest)
            if stored is None or stored.spent:
                raise CodeSpent()
            if (code.user_id, code.session_id) not in self.store.sessions:
                raise CentralSessionEnded()
            if _id(grant) in self.grants:
                raise CodeSpent()
            evicted = None if evict is None else (*session, evict)
            if self.store.sso_grant_versions.get(session, 0) != version or (
                evicted is not None and evicted not in self.grants
            ):
                raise GrantsChanged()
            self.store.sso_grant_versions[session] = version + 1
            if evicted is not None:
                del self.grants[evicted]
            self.codes[code.digest] = dataclasses.replace(stored, spent=True)
            self.grants[_id(grant)] = grant
            self.store.account_events.append(event)

    def find_grant(self, user_id: str, session_id: str, grant_id: str) -> Grant | None:
        with self.store._lock:
            self._call("find_grant")
            return self.grants.get((user_id, session_id, grant_id))

    def rotate_grant(self, grant: Grant, refresh_digest: str, now: Millis) -> None:
        with self.store._lock:
            self._call("rotate_grant")
            current = self.grants.get(_id(grant))
            if current is None or current.refresh_digest != grant.refresh_digest:
                if current is not None and current.refresh_digest == refresh_digest:
                    return  # its own rotation, sent again
                raise StaleWrite()
            self.grants[_id(grant)] = dataclasses.replace(
                current,
                refresh_digest=refresh_digest,
                generation=grant.generation + 1,
                previous_digest=grant.refresh_digest,
                rotated_at=now,
            )

    def end_grant(self, user_id: str, session_id: str, grant_id: str) -> None:
        with self.store._lock:
            self._call("end_grant")
            self.grants.pop((user_id, session_id, grant_id), None)

    def end_grants(self, user_id: str, session_id: str, grants: Sequence[Grant]) -> None:
        with self.store._lock:
            # One BatchWriteItem per 25 deletes: the grants, then the session's version
            for start in range(0, len(grants) + 1, 25):
                self._call("end_grants")
                for grant in grants[start : start + 25]:
                    self.grants.pop(_id(grant), None)
            self.store.sso_grant_versions.pop((user_id, session_id), None)

    def keep_alive(
        self, user_id: str, session_id: str, idle_expires_at: Millis, now: Millis
    ) -> None:
        with self.store._lock:
            self._call("keep_alive")
            current = self.store.sessions.get((user_id, session_id))
            if current is not None and current.idle_expires_at < idle_expires_at:
                self.store.sessions[(user_id, session_id)] = dataclasses.replace(
                    current, idle_expires_at=idle_expires_at, last_used_at=now
                )

    def session_grants(self, user_id: str, session_id: str) -> list[Grant]:
        with self.store._lock:
            self._call("session_grants")
            # the session's own, in their keys' order (GRANT#<session id>#<grant id>)
            return [
                self.grants[key] for key in sorted(self.grants) if key[:2] == (user_id, session_id)
            ]


def _id(grant: Grant) -> tuple[str, str, str]:
    """A grant's place: its item's key, GRANTS#<user id> / GRANT#<session id>#<grant id>."""
    return grant.user_id, grant.session_id, grant.grant_id
