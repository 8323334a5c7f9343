"""The second factor in DynamoDB: the pending and confirmed TOTP factor on the user's
credential item, and the challenges of logins waiting for a code. What a code spends (the
step, a recovery code, the challenge) is written with the session it buys: store_writes."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import aws, put_new, transact, update_if
from session_service.adapters.store_items import (
    Item,
    challenge_from_item,
    challenge_item,
    challenge_key,
    login_key,
    n,
    s,
    session_key,
)
from session_service.adapters.store_writes import account_event_put
from session_service.domain.models import AccountEvent, Credential, PendingTotp
from session_service.domain.ports import MfaChallenge, StaleWrite, TotpEnrollment


class DynamoSecondFactorStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def begin_totp(self, credential: Credential, pending: PendingTotp) -> None:
        self._update_credential(
            "begin_totp",
            credential,
            "SET pending_totp = :sealed, pending_totp_expires_at = :expires",
            # Only while TOTP is off, and for the password we read.
            "attribute_not_exists(totp_secret)",
            {":sealed": s(pending.sealed_secret), ":expires": n(pending.expires_at)},
        )

    def enable_totp(self, enrollment: TotpEnrollment) -> None:
        credential, factor = enrollment.credential, enrollment.factor
        # A first factor (the caller proved none): no passkey was added meanwhile either.
        first_factor, zero = "", {}
        if enrollment.first_factor:
            first_factor = " AND (attribute_not_exists(passkey_count) OR passkey_count = :zero)"
            zero = {":zero": n(0)}
        pending = credential.pending_totp
        if pending is None:
            raise StaleWrite()
        turn_on: Item = {
            "Update": {
                "TableName": self._table,
                "Key": login_key(credential.username_key),
                "UpdateExpression": (
                    "SET totp_secret = :sealed, totp_last_step = :step,"
                    " totp_enabled_at = :now, recovery_codes = :codes"
                    " REMOVE pending_totp, pending_totp_expires_at"
                ),
                # The pending secret the code was checked against, not yet expired, and
                # TOTP still off: of two confirmations, one wins.
                "ConditionExpression": (
                    "password_version = :version AND pending_totp = :sealed"
                    " AND pending_totp_expires_at > :now AND attribute_not_exists(totp_secret)"
                    + first_factor
                ),
                "ExpressionAttributeValues": {
                    ":version": n(credential.password_version),
                    ":sealed": s(factor.sealed_secret),
                    ":step": n(factor.last_step),
                    ":now": n(factor.enabled_at),
                    ":codes": {"SS": sorted(factor.recovery_codes)},
                    **zero,
                },
            }
        }
        # The confirming session is still there (an ended one enrolls nothing). How it
        # signed in stays: the code proved a new secret, not the user, and every copy of
        # the session's tokens would share a change of the session's own; a step-up with
        # the code gives the factor to the client that makes it.
        session: Item = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": session_key(credential.user_id, enrollment.session_id),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        events = account_event_put(self._table, enrollment.event)
        transact(self._db, "enable_totp", [turn_on, session, events])

    def disable_totp(self, credential: Credential, event: AccountEvent) -> None:
        turn_off: Item = {
            "Update": {
                "TableName": self._table,
                "Key": login_key(credential.username_key),
                "UpdateExpression": (
                    "REMOVE totp_secret, totp_last_step, totp_enabled_at, recovery_codes"
                ),
                # TOTP is on, for the password we read.
                "ConditionExpression": (
                    "password_version = :version AND attribute_exists(totp_secret)"
                ),
                "ExpressionAttributeValues": {":version": n(credential.password_version)},
            }
        }
        transact(self._db, "disable_totp", [turn_off, account_event_put(self._table, event)])

    def put_challenge(self, challenge: MfaChallenge) -> None:
        put_new(self._db, self._table, "put_challenge", challenge_item(challenge))

    def find_challenge(self, digest: str) -> MfaChallenge | None:
        with aws("find_challenge"):
            found = self._db.get_item(
                TableName=self._table, Key=challenge_key(digest), ConsistentRead=True
            )
        return challenge_from_item(found["Item"]) if "Item" in found else None

    def _update_credential(
        self,
        operation: str,
        credential: Credential,
        update: str,
        condition: str,
        values: Item,
    ) -> None:
        updated = update_if(
            self._db,
            self._table,
            operation,
            Key=login_key(credential.username_key),
            UpdateExpression=update,
            ConditionExpression=f"password_version = :version AND {condition}",
            ExpressionAttributeValues={":version": n(credential.password_version), **values},
        )
        if updated is None:
            raise StaleWrite()
