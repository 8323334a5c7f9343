"""The only module that talks to DynamoDB: one table, every change conditional.

Items (pk / sk):
  LOGIN#<username key> / LOGIN        the credential, found by case-folded username
  USER#<user id>       / PROFILE      the per-user item: session_version, not_before
  USER#<user id>       / SESSION#<id> a session; once revoked it is the revocation-list
                                      entry, kept (TTL) until its access tokens expire
  FAILURES#<scope>     / FAILURES     failed-login counters (username or IP), with TTL
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from session_service.errors import Unavailable
from session_service.models import (
    Credential,
    FailureWindow,
    LoginLookup,
    Millis,
    RevocationReason,
    Session,
    UserProfile,
    UserSessions,
)
from session_service.observability import logger
from session_service.throttling import ip_scope, username_scope

Item = dict[str, Any]
T = TypeVar("T")

_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


class StoreError(Exception):
    """A condition failed: the domain decides what that means."""


class AlreadyExists(StoreError):
    pass


class StaleWrite(StoreError):
    """Someone changed what we read before our write landed; read again and retry."""


class CredentialChanged(StoreError):
    """The password changed between verifying it and using it."""


class RotationRefused(StoreError):
    """The refresh token is not exchangeable; `current` is the session as it stands."""

    def __init__(self, current: Session | None) -> None:
        super().__init__("refresh refused")
        self.current = current


class SessionStore(Protocol):
    """What the domain needs from storage."""

    def create_user(self, credential: Credential, profile: UserProfile) -> None: ...

    def find_login(self, username_key: str, ip: str) -> LoginLookup: ...

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None: ...

    def load_user(self, user_id: str) -> UserSessions | None: ...

    def start_session(
        self,
        session: Session,
        *,
        expected_version: int,
        revoked: Sequence[Session],
        reason: RevocationReason,
        revocation_ttl: int,
        credential: Credential | None,
        new_password_hash: str | None = None,
        clear_failures: bool = False,
    ) -> None: ...

    def rotate(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        new_generation: int,
        now: Millis,
        idle_expires_at: Millis,
        ttl: int,
        required_ip: str | None,
        max_generation: int | None,
    ) -> Session: ...

    def rotate_within_grace(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        now: Millis,
        window_start: Millis,
        idle_expires_at: Millis,
        ttl: int,
        max_siblings: int,
        required_ip: str | None,
    ) -> Session: ...

    def revoke(
        self,
        user_id: str,
        session_id: str,
        reason: RevocationReason,
        now: Millis,
        ttl: int,
        created_before: Millis | None = None,
    ) -> Session | None: ...

    def authorization_lookup(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, UserProfile | None]: ...

    def raise_not_before(self, user_id: str, not_before: Millis) -> None: ...

    def sessions_of(self, user_id: str) -> Iterator[Session]: ...


# -- marshalling ------------------------------------------------------------------------


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _str(item: Item, name: str) -> str:
    return str(item[name]["S"])


def _int(item: Item, name: str) -> int:
    return int(item[name]["N"])


def _opt_int(item: Item, name: str) -> int | None:
    return int(item[name]["N"]) if name in item else None


def _opt_str(item: Item, name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(pk), "sk": _s(sk)}


def _login_key(username_key: str) -> dict[str, dict[str, str]]:
    return _key(f"LOGIN#{username_key}", "LOGIN")


def _profile_key(user_id: str) -> dict[str, dict[str, str]]:
    return _key(user_key(user_id), "PROFILE")


def _session_key(user_id: str, session_id: str) -> dict[str, dict[str, str]]:
    return _key(user_key(user_id), f"SESSION#{session_id}")


def _failures_key(scope: str) -> dict[str, dict[str, str]]:
    return _key(f"FAILURES#{scope}", "FAILURES")


def session_item(session: Session, ttl: int) -> Item:
    item: Item = {
        **_session_key(session.user_id, session.session_id),
        "kind": _s("session"),
        "user_id": _s(session.user_id),
        "session_id": _s(session.session_id),
        "created_at": _n(session.created_at),
        "last_used_at": _n(session.last_used_at),
        "idle_expires_at": _n(session.idle_expires_at),
        "absolute_expires_at": _n(session.absolute_expires_at),
        "ip": _s(session.ip),
        "user_agent": _s(session.user_agent),
        "generation": _n(session.generation),
        "status": _s(session.status),
        "ttl": _n(ttl),
    }
    if session.refresh_digests:
        item["refresh_digests"] = {"SS": sorted(session.refresh_digests)}
    return item


def session_from_item(item: Item) -> Session:
    return Session(
        user_id=_str(item, "user_id"),
        session_id=_str(item, "session_id"),
        created_at=_int(item, "created_at"),
        last_used_at=_int(item, "last_used_at"),
        idle_expires_at=_int(item, "idle_expires_at"),
        absolute_expires_at=_int(item, "absolute_expires_at"),
        ip=_str(item, "ip"),
        user_agent=_str(item, "user_agent"),
        refresh_digests=frozenset(item.get("refresh_digests", {}).get("SS", ())),
        generation=_int(item, "generation"),
        previous_digest=_opt_str(item, "previous_digest"),
        rotated_at=_opt_int(item, "rotated_at"),
        status="revoked" if _str(item, "status") == "revoked" else "active",
        revoked_at=_opt_int(item, "revoked_at"),
        revoked_reason=_opt_str(item, "revoked_reason"),  # type: ignore[arg-type]
    )


def _profile_from_item(item: Item) -> UserProfile:
    return UserProfile(
        user_id=_str(item, "user_id"),
        username=_str(item, "username"),
        created_at=_int(item, "created_at"),
        session_version=_int(item, "session_version"),
        not_before=_opt_int(item, "not_before"),
        password_changed_at=_opt_int(item, "password_changed_at"),
    )


def _credential_from_item(item: Item) -> Credential:
    return Credential(
        username_key=_str(item, "pk").removeprefix("LOGIN#"),
        username=_str(item, "username"),
        user_id=_str(item, "user_id"),
        password_hash=_str(item, "password_hash"),
        password_version=_int(item, "password_version"),
    )


def _failures_from_item(item: Item) -> FailureWindow:
    return FailureWindow(
        failures=_int(item, "failures"),
        window_started_at=_int(item, "window_started_at"),
        blocked_until=_opt_int(item, "blocked_until"),
    )


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One item change from the table's stream, decoded into domain records."""

    event_id: str
    kind: str
    old_session: Session | None = None
    new_session: Session | None = None
    old_profile: UserProfile | None = None
    new_profile: UserProfile | None = None


def decode_stream_record(record: Mapping[str, Any]) -> StreamChange | None:
    """Sessions and profiles from a DynamoDB stream record; None for other items."""
    images = record.get("dynamodb", {})
    old, new = images.get("OldImage"), images.get("NewImage")
    kind = str((new or old or {}).get("kind", {}).get("S", ""))
    event_id = str(record.get("eventID", ""))
    if kind == "session":
        return StreamChange(
            event_id=event_id,
            kind=kind,
            old_session=session_from_item(old) if old else None,
            new_session=session_from_item(new) if new else None,
        )
    if kind == "user":
        return StreamChange(
            event_id=event_id,
            kind=kind,
            old_profile=_profile_from_item(old) if old else None,
            new_profile=_profile_from_item(new) if new else None,
        )
    return None


# -- AWS failures -------------------------------------------------------------------------


@contextmanager
def _aws(operation: str) -> Iterator[None]:
    """Turn throttling, faults and timeouts into a 503 the client may retry."""
    try:
        yield
    except ClientError as error:
        # Condition failures are handled inside the block; anything reaching here is a
        # failure of DynamoDB or of our request, never the client's.
        code = error.response.get("Error", {}).get("Code", "")
        if code not in _UNAVAILABLE_CODES:
            logger.error("unexpected DynamoDB error", operation=operation, code=code)
        else:
            logger.warning("DynamoDB unavailable", operation=operation, code=code)
        raise Unavailable(retry_after=1) from None
    except BotoCoreError as error:
        logger.warning("DynamoDB unreachable", operation=operation, error=type(error).__name__)
        raise Unavailable(retry_after=1) from None


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def _raise_for_cancellation(error: ClientError, conflicts: Mapping[int, type[StoreError]]) -> None:
    """Map a cancelled transaction to the domain meaning of its first failed condition."""
    codes = _cancellation_codes(error)
    if any(code in ("ThrottlingError", "ProvisionedThroughputExceeded") for code in codes):
        raise Unavailable(retry_after=1) from None
    if "TransactionConflict" in codes:
        raise StaleWrite() from None
    for index, code in enumerate(codes):
        if code == "ConditionalCheckFailed":
            raise conflicts.get(index, StaleWrite)() from None
    logger.error("transaction cancelled", codes=codes)
    raise Unavailable(retry_after=1) from None


def _is_condition_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


# -- the DynamoDB store -------------------------------------------------------------------


class DynamoSessionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def create_user(self, credential: Credential, profile: UserProfile) -> None:
        login: Item = {
            **_login_key(credential.username_key),
            "kind": _s("credential"),
            "user_id": _s(credential.user_id),
            "username": _s(credential.username),
            "password_hash": _s(credential.password_hash),
            "password_version": _n(credential.password_version),
        }
        user: Item = {
            **_profile_key(profile.user_id),
            "kind": _s("user"),
            "user_id": _s(profile.user_id),
            "username": _s(profile.username),
            "created_at": _n(profile.created_at),
            "session_version": _n(profile.session_version),
        }
        # Both puts refuse to overwrite: the username is taken, or (never in practice)
        # the random user id collided.
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for item in (login, user)
        ]
        with _aws("create_user"):
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                _raise_for_cancellation(error, {0: AlreadyExists, 1: AlreadyExists})

    def find_login(self, username_key: str, ip: str) -> LoginLookup:
        keys = {
            "login": _login_key(username_key),
            "user": _failures_key(username_scope(username_key)),
            "ip": _failures_key(ip_scope(ip)),
        }
        found = self._batch_get(list(keys.values()))
        login = found.get(_key_id(keys["login"]))
        user_failures = found.get(_key_id(keys["user"]))
        ip_failures = found.get(_key_id(keys["ip"]))
        return LoginLookup(
            credential=_credential_from_item(login) if login else None,
            username_failures=_failures_from_item(user_failures) if user_failures else None,
            ip_failures=_failures_from_item(ip_failures) if ip_failures else None,
        )

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None:
        self._update_if(
            "replace_password_hash",
            Key=_login_key(credential.username_key),
            UpdateExpression="SET password_hash = :hash",
            # Only the hash we verified: a password change meanwhile wins.
            ConditionExpression="password_version = :version",
            ExpressionAttributeValues={
                ":hash": _s(new_hash),
                ":version": _n(credential.password_version),
            },
        )

    def load_user(self, user_id: str) -> UserSessions | None:
        profile: UserProfile | None = None
        sessions: list[Session] = []
        for item in self._query_user(user_id):
            sort_key = _str(item, "sk")
            if sort_key == "PROFILE":
                profile = _profile_from_item(item)
            elif sort_key.startswith("SESSION#"):
                sessions.append(session_from_item(item))
        if profile is None:
            return None
        return UserSessions(profile=profile, sessions=tuple(sessions))

    def start_session(
        self,
        session: Session,
        *,
        expected_version: int,
        revoked: Sequence[Session],
        reason: RevocationReason,
        revocation_ttl: int,
        credential: Credential | None,
        new_password_hash: str | None = None,
        clear_failures: bool = False,
    ) -> None:
        profile_update = "SET session_version = :next"
        profile_values: Item = {
            ":seen": _n(expected_version),
            ":next": _n(expected_version + 1),
        }
        if new_password_hash is not None:
            # A password change: sessions created before it are over for the authorizer.
            profile_update += ", not_before = :changed_at, password_changed_at = :changed_at"
            profile_values[":changed_at"] = _n(session.created_at)
        items: list[Item] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _profile_key(session.user_id),
                    "UpdateExpression": profile_update,
                    # Every new session bumps the version: a concurrent login that read the
                    # same sessions fails here and re-reads, so the limit cannot be overshot.
                    "ConditionExpression": "session_version = :seen",
                    "ExpressionAttributeValues": profile_values,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": session_item(session, ttl=ttl_seconds(session.expires_at)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        for victim in revoked:
            items.append(
                {
                    "Update": self._revocation(
                        victim.user_id,
                        victim.session_id,
                        reason,
                        session.created_at,
                        revocation_ttl,
                    )
                }
            )
        conflicts: dict[int, type[StoreError]] = {}
        if credential is not None:
            conflicts[len(items)] = CredentialChanged
            items.append(self._credential_item(credential, new_password_hash))
        if credential is not None and clear_failures:
            # Proving the password clears the username's failure count (only written when
            # there is one: a transactional delete costs as much as a write).
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _failures_key(username_scope(credential.username_key)),
                    }
                }
            )
        with _aws("start_session"):
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                _raise_for_cancellation(error, conflicts)

    def _credential_item(self, credential: Credential, new_password_hash: str | None) -> Item:
        seen = {":version": _n(credential.password_version)}
        if new_password_hash is None:
            return {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": _login_key(credential.username_key),
                    # The password we verified is still the password.
                    "ConditionExpression": "password_version = :version",
                    "ExpressionAttributeValues": seen,
                }
            }
        return {
            "Update": {
                "TableName": self._table,
                "Key": _login_key(credential.username_key),
                "UpdateExpression": "SET password_hash = :hash, password_version = :next",
                # Replace only the password we verified: of two changes, one wins.
                "ConditionExpression": "password_version = :version",
                "ExpressionAttributeValues": {
                    **seen,
                    ":hash": _s(new_password_hash),
                    ":next": _n(credential.password_version + 1),
                },
            }
        }

    def rotate(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        new_generation: int,
        now: Millis,
        idle_expires_at: Millis,
        ttl: int,
        required_ip: str | None,
        max_generation: int | None,
    ) -> Session:
        # The presented token is current, the session active and inside both timeouts:
        # checked by DynamoDB at the moment of the write, so of two racing exchanges of
        # one token exactly one succeeds.
        condition = [
            "contains(refresh_digests, :presented)",
            "#status = :active",
            "idle_expires_at > :now",
            "absolute_expires_at > :now",
        ]
        values: Item = {
            ":presented": _s(presented_digest),
            ":active": _s("active"),
            ":now": _n(now),
            ":fresh": {"SS": [new_digest]},
            ":generation": _n(new_generation),
            ":idle": _n(idle_expires_at),
            ":ttl": _n(ttl),
        }
        if required_ip is not None:
            condition.append("ip = :ip")
            values[":ip"] = _s(required_ip)
        if max_generation is not None:
            condition.append("generation < :max_generation")
            values[":max_generation"] = _n(max_generation)
        return self._update_session(
            user_id,
            session_id,
            update=(
                "SET refresh_digests = :fresh, previous_digest = :presented, rotated_at = :now,"
                " generation = :generation, last_used_at = :now, idle_expires_at = :idle,"
                " #ttl = :ttl"
            ),
            condition=" AND ".join(condition),
            values=values,
        )

    def rotate_within_grace(
        self,
        user_id: str,
        session_id: str,
        *,
        presented_digest: str,
        new_digest: str,
        now: Millis,
        window_start: Millis,
        idle_expires_at: Millis,
        ttl: int,
        max_siblings: int,
        required_ip: str | None,
    ) -> Session:
        # The presented token is the one rotated away last, that rotation is recent, and
        # the session is still good; the new token joins the current ones as a sibling.
        condition = [
            "previous_digest = :presented",
            "rotated_at >= :window_start",
            "#status = :active",
            "idle_expires_at > :now",
            "absolute_expires_at > :now",
            "size(refresh_digests) < :max_siblings",
        ]
        values: Item = {
            ":presented": _s(presented_digest),
            ":window_start": _n(window_start),
            ":active": _s("active"),
            ":now": _n(now),
            ":max_siblings": _n(max_siblings),
            ":fresh": {"SS": [new_digest]},
            ":idle": _n(idle_expires_at),
            ":ttl": _n(ttl),
        }
        if required_ip is not None:
            condition.append("ip = :ip")
            values[":ip"] = _s(required_ip)
        return self._update_session(
            user_id,
            session_id,
            update=(
                "ADD refresh_digests :fresh"
                " SET last_used_at = :now, idle_expires_at = :idle, #ttl = :ttl"
            ),
            condition=" AND ".join(condition),
            values=values,
        )

    def revoke(
        self,
        user_id: str,
        session_id: str,
        reason: RevocationReason,
        now: Millis,
        ttl: int,
        created_before: Millis | None = None,
    ) -> Session | None:
        request = self._revocation(user_id, session_id, reason, now, ttl, created_before)
        del request["TableName"]
        revoked = self._update_if("revoke", **request, ReturnValues="ALL_NEW")
        return session_from_item(revoked) if revoked is not None else None

    def authorization_lookup(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, UserProfile | None]:
        session_key, profile_key = _session_key(user_id, session_id), _profile_key(user_id)
        found = self._batch_get([session_key, profile_key])
        session = found.get(_key_id(session_key))
        profile = found.get(_key_id(profile_key))
        return (
            session_from_item(session) if session else None,
            _profile_from_item(profile) if profile else None,
        )

    def record_login_failure(self, scope: str, now: Millis, window_ms: int) -> FailureWindow:
        """Count a failed login in the scope's window, starting a new window when the last
        one is over. ADD keeps concurrent failures exact."""
        expires = ttl_seconds(now + window_ms)
        values = {
            ":one": _n(1),
            ":now": _n(now),
            ":ttl": _n(expires),
            ":window_floor": _n(now - window_ms),
        }
        for _ in range(3):
            counted = self._update_if(
                "record_login_failure",
                Key=_failures_key(scope),
                UpdateExpression=(
                    "ADD failures :one"
                    " SET window_started_at = if_not_exists(window_started_at, :now),"
                    " #ttl = if_not_exists(#ttl, :ttl)"
                ),
                # Count into the current window only; an ended one is restarted below.
                ConditionExpression="attribute_not_exists(pk) OR window_started_at > :window_floor",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            if counted is not None:
                return _failures_from_item(counted)
            restarted = self._update_if(
                "record_login_failure",
                Key=_failures_key(scope),
                UpdateExpression="SET failures = :one, window_started_at = :now, #ttl = :ttl",
                # Start a new window only over one that has ended; a lock that outlasts its
                # window stays.
                ConditionExpression="window_started_at <= :window_floor",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
            )
            if restarted is not None:
                return FailureWindow(failures=1, window_started_at=now)
        raise Unavailable(retry_after=1)

    def lock_login_scope(self, scope: str, until: Millis, keep_until: Millis) -> None:
        """Lock the scope until `until`; keep the item (TTL) until `keep_until`."""
        self._update_if(
            "lock_login_scope",
            Key=_failures_key(scope),
            UpdateExpression="SET blocked_until = :until, #ttl = :ttl",
            # A lock only ever grows.
            ConditionExpression="attribute_not_exists(blocked_until) OR blocked_until < :until",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":until": _n(until),
                ":ttl": _n(ttl_seconds(max(until, keep_until))),
            },
        )

    def raise_not_before(self, user_id: str, not_before: Millis) -> None:
        self._update_if(
            "raise_not_before",
            Key=_profile_key(user_id),
            UpdateExpression="SET not_before = :not_before",
            # Never backwards: an older event arriving late changes nothing, and an unknown
            # user gets no profile item.
            ConditionExpression=(
                "attribute_exists(pk) AND"
                " (attribute_not_exists(not_before) OR not_before < :not_before)"
            ),
            ExpressionAttributeValues={":not_before": _n(not_before)},
        )

    def sessions_of(self, user_id: str) -> Iterator[Session]:
        """Every session of the user, a page at a time however many there are."""
        for item in self._query_user(user_id, sort_key_prefix="SESSION#", page_size=200):
            yield session_from_item(item)

    # -- helpers ------------------------------------------------------------------------

    def _update_if(self, operation: str, **request: Any) -> Item | None:
        """An UpdateItem whose condition may fail: its returned attributes, or None if it
        did."""
        with _aws(operation):
            try:
                response = self._db.update_item(TableName=self._table, **request)
            except ClientError as error:
                if _is_condition_failure(error):
                    return None
                raise
        return dict(response.get("Attributes", {}))

    def _revocation(
        self,
        user_id: str,
        session_id: str,
        reason: RevocationReason,
        now: Millis,
        ttl: int,
        created_before: Millis | None = None,
    ) -> Item:
        # Only an active session is revoked: the first reason recorded is the true one,
        # and revoking twice publishes one SessionRevoked.
        condition = "#status = :active"
        values: Item = {
            ":active": _s("active"),
            ":revoked": _s("revoked"),
            ":now": _n(now),
            ":reason": _s(reason),
            ":ttl": _n(ttl),
        }
        if created_before is not None:
            condition += " AND created_at < :created_before"
            values[":created_before"] = _n(created_before)
        return {
            "TableName": self._table,
            "Key": _session_key(user_id, session_id),
            "UpdateExpression": (
                "SET #status = :revoked, revoked_at = :now, revoked_reason = :reason, #ttl = :ttl"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status", "#ttl": "ttl"},
            "ExpressionAttributeValues": values,
        }

    def _update_session(
        self, user_id: str, session_id: str, *, update: str, condition: str, values: Item
    ) -> Session:
        with _aws("update_session"):
            try:
                response = self._db.update_item(
                    TableName=self._table,
                    Key=_session_key(user_id, session_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not _is_condition_failure(error):
                    raise
                current = error.response.get("Item")
                raise RotationRefused(session_from_item(current) if current else None) from None
        return session_from_item(response["Attributes"])

    def _query_user(
        self, user_id: str, sort_key_prefix: str | None = None, page_size: int | None = None
    ) -> Iterator[Item]:
        request: Item = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(user_key(user_id))},
            "ConsistentRead": True,
        }
        if sort_key_prefix:
            request["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            request["ExpressionAttributeValues"][":prefix"] = _s(sort_key_prefix)
        if page_size:
            request["Limit"] = page_size
        while True:
            with _aws("query_user"):
                page = self._db.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, keys: list[Item]) -> dict[tuple[str, str], Item]:
        found: dict[tuple[str, str], Item] = {}
        request: Item = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(4):
            with _aws("batch_get"):
                response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[(_str(item, "pk"), _str(item, "sk"))] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            # DynamoDB left keys unread under load; back off briefly before asking again.
            time.sleep(0.02 * (2**attempt) * random.random())  # noqa: S311
        raise Unavailable(retry_after=1)


def _key_id(key: Mapping[str, Mapping[str, str]]) -> tuple[str, str]:
    return (key["pk"]["S"], key["sk"]["S"])


def ttl_seconds(expires_at: Millis) -> int:
    """DynamoDB TTL is epoch seconds; round up so an item never vanishes early."""
    return -(-expires_at // 1000)


@functools.cache
def dynamodb_client() -> Any:
    """One client per container, created on first use (tests start moto before it)."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=3,
        tcp_keepalive=True,
    )
    return boto3.client("dynamodb", config=config)


def dynamo_store(table_name: str) -> DynamoSessionStore:
    return DynamoSessionStore(dynamodb_client(), table_name)
