"""An administrator's writes in DynamoDB: disabling or enabling an account (its profile and
credential together, the sessions a disable ends, and the record its event comes from),
and lifting a username's login lock."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import aws, is_condition_failure, transact
from session_service.adapters.passkey_items import passkey_key
from session_service.adapters.store_items import Item, login_key, n, profile_key
from session_service.adapters.store_writes import account_event_put, ending_items
from session_service.domain.administration.records import AccountStatusChange, FactorsResetChange
from session_service.domain.models import Credential
from session_service.domain.ports import StaleWrite


class DynamoAdministrationStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def set_disabled(self, change: AccountStatusChange) -> None:
        credential = change.credential
        if change.disabled:
            profile_update = "SET disabled = :true, session_version = :next"
            credential_update, true = "SET disabled = :true", {":true": {"BOOL": True}}
        else:
            profile_update = "SET session_version = :next REMOVE disabled"
            credential_update, true = "REMOVE disabled", {}
        items: list[Item] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": profile_key(credential.user_id),
                    "UpdateExpression": profile_update,
                    # On the version read: a login racing this reads again and sees it.
                    "ConditionExpression": "session_version = :seen",
                    "ExpressionAttributeValues": {
                        ":seen": n(change.expected_version),
                        ":next": n(change.expected_version + 1),
                        **true,
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": login_key(credential.username_key),
                    "UpdateExpression": credential_update,
                    "ConditionExpression": "attribute_exists(pk)",
                    **({"ExpressionAttributeValues": true} if true else {}),
                }
            },
        ]
        if change.ended is not None:
            items += ending_items(self._table, change.ended, change.event.at)
        items.append(account_event_put(self._table, change.event))
        transact(self._db, "set_disabled", items)

    def reset_factors(self, change: FactorsResetChange) -> None:
        credential = change.credential
        items: list[Item] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": profile_key(credential.user_id),
                    "UpdateExpression": "SET session_version = :next",
                    # Every session read ends: a login meanwhile makes this read again.
                    "ConditionExpression": "session_version = :seen",
                    "ExpressionAttributeValues": {
                        ":seen": n(change.expected_version),
                        ":next": n(change.expected_version + 1),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": login_key(credential.username_key),
                    # A new throttle generation: the counts of wrong proofs start afresh
                    # (a TOTP set up again is not born locked), as a lifted login lock's do.
                    "UpdateExpression": (
                        "SET passkey_count = :zero, throttle_generation = :generation"
                        " REMOVE totp_secret, totp_last_step, totp_enabled_at, recovery_codes,"
                        " pending_totp, pending_totp_expires_at"
                    ),
                    # The passkeys read are all there are: one added meanwhile reads again.
                    "ConditionExpression": (
                        "attribute_exists(pk) AND (attribute_not_exists(passkey_count)"
                        " OR passkey_count = :count)"
                    ),
                    "ExpressionAttributeValues": {
                        ":zero": n(0),
                        ":count": n(len(change.passkey_ids)),
                        ":generation": n(credential.throttle_generation + 1),
                    },
                }
            },
        ]
        items += [
            {"Delete": {"TableName": self._table, "Key": passkey_key(credential.user_id, pid)}}
            for pid in change.passkey_ids
        ]
        if change.ended is not None:
            items += ending_items(self._table, change.ended, change.event.at)
        items.append(account_event_put(self._table, change.event))
        transact(self._db, "reset_factors", items)

    def lift_login_lock(self, credential: Credential) -> None:
        # The generation after the one read, not one more than whatever is stored: the
        # same write sent again (its answer lost) or a racing lift finds it there, and the
        # lock is lifted once.
        lifted = credential.throttle_generation + 1
        with aws("lift_login_lock"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=login_key(credential.username_key),
                    UpdateExpression="SET throttle_generation = :lifted",
                    ConditionExpression=(
                        "attribute_exists(pk) AND (attribute_not_exists(throttle_generation)"
                        " OR throttle_generation < :lifted)"
                    ),
                    ExpressionAttributeValues={":lifted": n(lifted)},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                if "Item" not in error.response:
                    raise StaleWrite() from None
