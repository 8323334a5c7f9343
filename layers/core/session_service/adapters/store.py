"""Users and their sessions in DynamoDB: one table, every change conditional.

A session's item exists only while the session may be live: ending a session deletes it
and writes an ended-sessions record in the same transaction (the record is what the
stream turns into SessionRevoked). A user's partition therefore holds their profile and
live sessions only (plus expired ones, until a login or TTL removes them), and every read
of it costs what the live sessions cost, however long the user's history. The authorizer
refuses a session whose item is missing. Keys and marshalling: store_items."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import (
    aws,
    dynamodb_client,
    is_condition_failure,
    transact,
    update_if,
)
from session_service.adapters.email_items import spend_items
from session_service.adapters.passkey_items import passkey_use_items
from session_service.adapters.store_items import (
    Item,
    Key,
    credential_from_item,
    credential_item,
    grant_key,
    holds_session,
    key_id,
    login_key,
    n,
    profile_from_item,
    profile_item,
    profile_key,
    s,
    session_from_item,
    session_item,
    session_key,
    user_partition,
)
from session_service.adapters.store_writes import (
    account_event_put,
    challenge_spend_item,
    credential_op,
    ending_items,
    pruning_item,
    reauth_session_item,
    rotation_update,
)
from session_service.adapters.stream_records import (
    account_event_item,
    login_attempt_item,
)
from session_service.domain.errors import Unavailable
from session_service.domain.models import (
    SECOND_FACTOR_METHODS,
    AccountEvent,
    Credential,
    EndedSessions,
    LoginAttempt,
    Millis,
    Session,
    UserProfile,
    UserSessions,
)
from session_service.domain.ports import (
    AlreadyExists,
    CredentialChanged,
    NewSession,
    NotBeforeRaise,
    Reauthentication,
    Rotation,
    RotationRefused,
    SecondFactorSpent,
    StaleWrite,
    StoreError,
    WriteConflict,
)
from session_service.observability import logger

# Tries of a transaction that DynamoDB cancels for a write in flight on one of its items.
CONFLICT_ATTEMPTS = 4


class DynamoSessionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def create_user(self, credential: Credential, profile: UserProfile) -> None:
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
            for item in (credential_item(credential), profile_item(profile))
        ]
        transact(self._db, "create_user", items, conflicts={0: AlreadyExists, 1: AlreadyExists})

    def find_credential(self, username_key: str) -> Credential | None:
        with aws("find_credential"):
            found = self._db.get_item(
                TableName=self._table, Key=login_key(username_key), ConsistentRead=True
            )
        return credential_from_item(found["Item"]) if "Item" in found else None

    def find_profile(self, user_id: str) -> UserProfile | None:
        with aws("find_profile"):
            found = self._db.get_item(
                TableName=self._table, Key=profile_key(user_id), ConsistentRead=True
            )
        return profile_from_item(found["Item"]) if "Item" in found else None

    def replace_password_hash(self, credential: Credential, new_hash: str) -> None:
        update_if(
            self._db,
            self._table,
            "replace_password_hash",
            Key=login_key(credential.username_key),
            UpdateExpression="SET password_hash = :hash",
            # Only the hash we verified: a password change meanwhile wins.
            ConditionExpression="password_version = :version",
            ExpressionAttributeValues={
                ":hash": s(new_hash),
                ":version": n(credential.password_version),
            },
        )

    def load_user(self, user_id: str) -> UserSessions | None:
        """The profile and the session items: live sessions, and expired ones not yet
        removed. Ended sessions have no item, so this reads no history."""
        profile: UserProfile | None = None
        sessions: list[Session] = []
        for item in self._query_user(user_id):
            sort_key = str(item["sk"]["S"])
            if sort_key == "PROFILE":
                profile = profile_from_item(item)
            elif sort_key.startswith("SESSION#"):
                sessions.append(session_from_item(item))
        if profile is None:
            return None
        return UserSessions(profile=profile, sessions=tuple(sessions))

    def start_session(self, start: NewSession) -> None:
        session = start.session
        profile_update = "SET session_version = :next"
        profile_values: Item = {
            ":seen": n(start.expected_version),
            ":next": n(start.expected_version + 1),
        }
        if start.new_password_hash is not None:
            # A password change: sessions created before it are over for the authorizer.
            profile_update += (
                ", not_before = :changed_at, password_changed_at = :changed_at,"
                " password_change_reason = :why"
            )
            profile_values[":changed_at"] = n(session.created_at)
            reset = start.spends is not None and start.spends.reset_digest is not None
            profile_values[":why"] = s("reset" if reset else "changed")
        items: list[Item] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": profile_key(session.user_id),
                    "UpdateExpression": profile_update,
                    # Every change of a user's sessions bumps the version: a concurrent
                    # login that read the same sessions fails here and reads again, so the
                    # limit cannot be overshot.
                    "ConditionExpression": "session_version = :seen",
                    "ExpressionAttributeValues": profile_values,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": session_item(session),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if start.ended is not None:
            items += ending_items(self._table, start.ended, now=session.created_at)
        items += [
            pruning_item(self._table, expired, session.created_at) for expired in start.pruned
        ]
        conflicts: dict[int, type[StoreError]] = {}
        proof = start.second_factor
        if start.credential is not None:
            conflicts[len(items)] = CredentialChanged if proof is None else SecondFactorSpent
            # A password change from a session that proved no factor is on the password alone.
            password_alone = not SECOND_FACTOR_METHODS & set(session.amr)
            reset_digest = start.spends.reset_digest if start.spends else None
            items.append(
                credential_op(
                    self._table,
                    start.credential,
                    start.new_password_hash,
                    proof,
                    password_alone,
                    reset_digest,
                )
            )
        if proof is not None and proof.challenge_digest is not None:
            conflicts[len(items)] = SecondFactorSpent
            items.append(
                challenge_spend_item(
                    self._table, proof.challenge_digest, session.user_id, session.created_at
                )
            )
        if proof is not None and proof.event is not None:
            items.append(account_event_put(self._table, proof.event))
        if proof is not None and proof.passkey is not None:
            for item in passkey_use_items(self._table, proof.passkey):
                conflicts[len(items)] = SecondFactorSpent
                items.append(item)
        for spend in spend_items(self._table, start.spends):
            conflicts[len(items)] = SecondFactorSpent
            items.append(spend)
        transact(self._db, "start_session", items, conflicts=conflicts)

    def end_sessions(self, ended: EndedSessions, now: Millis) -> bool:
        """End these sessions if every one is still live; False (nothing written) if one
        has ended or expired meanwhile. A write in flight on one of them (a refresh) is
        waited out: a conflict says nothing about whether they are live."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                transact(self._db, "end_sessions", ending_items(self._table, ended, now))
            except WriteConflict:
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311
                continue
            except StaleWrite:
                return False
            return True
        logger.warning("gave up ending sessions under write conflicts", user_id=ended.user_id)
        raise Unavailable(retry_after=1)

    def raise_not_before(self, change: NotBeforeRaise) -> None:
        items: list[Item] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": profile_key(change.user_id),
                    "UpdateExpression": "SET not_before = :not_before, session_version = :next",
                    # Never backwards, and on the version read: a login racing this either
                    # lands first (and its session is ended here) or reads again.
                    "ConditionExpression": (
                        "session_version = :seen AND"
                        " (attribute_not_exists(not_before) OR not_before < :not_before)"
                    ),
                    "ExpressionAttributeValues": {
                        ":not_before": n(change.not_before),
                        ":seen": n(change.expected_version),
                        ":next": n(change.expected_version + 1),
                    },
                }
            }
        ]
        if change.ended is not None:
            items += ending_items(self._table, change.ended, now=change.ended.ended_at)
        transact(self._db, "raise_not_before", items)

    def rotate(self, rotation: Rotation) -> Session:
        update, condition, values = rotation_update(rotation)
        return self._update_session(rotation, update, condition, values)

    def authorization_lookup(
        self, user_id: str, session_id: str, consistent: bool = True, grant_id: str | None = None
    ) -> tuple[Session | None, UserProfile | None]:
        keys = [session_key(user_id, session_id), profile_key(user_id)]
        if grant_id is not None:  # an app's token: its grant, in the same round trip
            keys.append(grant_key(user_id, session_id, grant_id))
        found = self._batch_get(keys, consistent)
        session, profile, *grant = (found.get(key_id(k)) for k in keys)
        held = grant_id is None or holds_session(grant[0], session_id)
        return (
            session_from_item(session) if session and held else None,
            profile_from_item(profile) if profile else None,
        )

    def reauthenticate(self, change: Reauthentication) -> None:
        """The session's fresh auth_time, with the credential still the one verified (and
        the second factor's code spent) in the same transaction."""
        proof = change.second_factor
        items = [
            reauth_session_item(self._table, change),
            credential_op(
                self._table, change.credential, second_factor=proof, password_alone=False
            ),
        ]
        spent = SecondFactorSpent if proof is not None else CredentialChanged
        conflicts: dict[int, type[StoreError]] = {1: spent}
        if proof is not None and proof.challenge_digest is not None:
            # A login's mfa_token (the hosted page renewing its central session)
            conflicts[len(items)] = SecondFactorSpent
            items.append(
                challenge_spend_item(
                    self._table, proof.challenge_digest, change.credential.user_id, change.now
                )
            )
        if proof is not None and proof.event is not None:
            items.append(account_event_put(self._table, proof.event))
        if change.event is not None:  # a central session's renewal: a sign-in's record
            items.append(account_event_put(self._table, change.event))
        if proof is not None and proof.passkey is not None:
            for item in passkey_use_items(self._table, proof.passkey):
                conflicts[len(items)] = SecondFactorSpent
                items.append(item)
        transact(self._db, "reauthenticate", items, conflicts=conflicts)

    def record_login_attempt(self, attempt: LoginAttempt) -> bool:
        # A record for the stream to carry into the user's activity (TTL: a day).
        return self._put_once("record_login_attempt", login_attempt_item(attempt))

    def record_account_event_once(self, event: AccountEvent) -> bool:
        return self._put_once("record_account_event", account_event_item(event))

    def _put_once(self, operation: str, item: Item) -> bool:
        with aws(operation):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    # A record whose id names its window is written once in it (a retry,
                    # or another request, changes nothing).
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                return False
        return True

    # -- helpers ------------------------------------------------------------------------

    def _update_session(
        self, rotation: Rotation, update: str, condition: str, values: Item
    ) -> Session:
        with aws("update_session"):
            try:
                response = self._db.update_item(
                    TableName=self._table,
                    Key=session_key(rotation.user_id, rotation.session_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                current = error.response.get("Item")
                raise RotationRefused(session_from_item(current) if current else None) from None
        return session_from_item(response["Attributes"])

    def _query_user(self, user_id: str) -> Iterator[Item]:
        request: Item = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(user_partition(user_id))},
            "ConsistentRead": True,
        }
        while True:
            with aws("query_user"):
                page = self._db.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, keys: Sequence[Key], consistent: bool) -> dict[tuple[str, str], Item]:
        found: dict[tuple[str, str], Item] = {}
        request: Item = {self._table: {"Keys": list(keys), "ConsistentRead": consistent}}
        for attempt in range(4):
            with aws("batch_get"):
                response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[(str(item["pk"]["S"]), str(item["sk"]["S"]))] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            # DynamoDB left keys unread under load; back off briefly before asking again.
            time.sleep(0.02 * (2**attempt) * random.random())  # noqa: S311
        raise Unavailable(retry_after=1)


def dynamo_store(table_name: str) -> DynamoSessionStore:
    return DynamoSessionStore(dynamodb_client(), table_name)
