"""Passkeys in DynamoDB: a user's passkeys in a partition of their own, the pending
registration beside them, and the sign-in ceremonies (passkey_items)."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import aws, put_new, transact, update_if
from session_service.adapters.passkey_items import (
    PASSKEY_PREFIX,
    passkey_from_item,
    passkey_item,
    passkey_key,
    passkeys_partition,
    registration_from_item,
    registration_item,
    registration_key,
    sign_in_from_item,
    sign_in_item,
    sign_in_key,
)
from session_service.adapters.store_items import (
    Item,
    login_key,
    n,
)
from session_service.adapters.store_writes import account_event_put
from session_service.adapters.stream_records import (
    account_event_item,
)
from session_service.domain.models import AccountEvent, Passkey
from session_service.domain.ports import (
    AlreadyExists,
    PasskeyAddition,
    PasskeyCountRefused,
    RegistrationCeremony,
    SignInCeremony,
    StaleWrite,
)

# The account has no second factor yet: no TOTP, and no passkey (its count 0 or unset).
NO_FACTOR_YET = (
    "attribute_not_exists(totp_secret)"
    " AND (attribute_not_exists(passkey_count) OR passkey_count = :zero)"
)


class DynamoPasskeyStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def put_registration(self, ceremony: RegistrationCeremony) -> None:
        with aws("put_passkey_registration"):
            self._db.put_item(TableName=self._table, Item=registration_item(ceremony))

    def find_registration(self, user_id: str) -> RegistrationCeremony | None:
        with aws("find_passkey_registration"):
            found = self._db.get_item(
                TableName=self._table, Key=registration_key(user_id), ConsistentRead=True
            )
        return registration_from_item(user_id, found["Item"]) if "Item" in found else None

    def add_passkey(self, addition: PasskeyAddition) -> None:
        passkey = addition.passkey
        spend: Item = {
            "Delete": {
                "TableName": self._table,
                "Key": registration_key(passkey.user_id),
                # The challenge the attestation was verified against, not yet expired:
                # of two posts of it, or a post after the options were asked again, one.
                "ConditionExpression": "challenge = :challenge AND expires_at > :now",
                "ExpressionAttributeValues": {
                    ":challenge": {"B": addition.challenge},
                    ":now": n(passkey.created_at),
                },
            }
        }
        put: Item = {
            "Put": {
                "TableName": self._table,
                "Item": passkey_item(passkey),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        # The cap holds however many registrations race: they serialise here. A first
        # factor (the caller proved none) finds the account still without one.
        if addition.first_factor:
            room, values = NO_FACTOR_YET, {":zero": n(0)}
        else:
            room = "(attribute_not_exists(passkey_count) OR passkey_count < :max)"
            values = {":max": n(addition.max_passkeys)}
        count: Item = {
            "Update": {
                "TableName": self._table,
                "Key": login_key(passkey.username_key),
                "UpdateExpression": "ADD passkey_count :one",
                "ConditionExpression": f"user_id = :user AND {room}",
                "ExpressionAttributeValues": {
                    ":one": n(1),
                    ":user": {"S": passkey.user_id},
                    **values,
                },
            }
        }
        items = [spend, put, count, account_event_put(self._table, addition.event)]
        conflicts = {1: AlreadyExists, 2: PasskeyCountRefused}
        transact(self._db, "add_passkey", items, conflicts=conflicts)

    def passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys (at most MAX_PASSKEYS: one page)."""
        request: Item = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": passkeys_partition(user_id)},
                ":prefix": {"S": PASSKEY_PREFIX},
            },
            "ConsistentRead": True,
        }
        found: list[Passkey] = []
        while True:
            with aws("list_passkeys"):
                page = self._db.query(**request)
            found += [passkey_from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find_passkey(self, user_id: str, passkey_id: str) -> Passkey | None:
        with aws("find_passkey"):
            found = self._db.get_item(
                TableName=self._table, Key=passkey_key(user_id, passkey_id), ConsistentRead=True
            )
        return passkey_from_item(found["Item"]) if "Item" in found else None

    def rename_passkey(self, passkey: Passkey, name: str) -> None:
        renamed = update_if(
            self._db,
            self._table,
            "rename_passkey",
            Key=passkey_key(passkey.user_id, passkey.passkey_id),
            UpdateExpression="SET #name = :name",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={":name": {"S": name}},
        )
        if renamed is None:
            raise StaleWrite()

    def remove_passkey(self, passkey: Passkey, event: AccountEvent, keep: int) -> None:
        delete: Item = {
            "Delete": {
                "TableName": self._table,
                "Key": passkey_key(passkey.user_id, passkey.passkey_id),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        count: Item = {
            "Update": {
                "TableName": self._table,
                "Key": login_key(passkey.username_key),
                "UpdateExpression": "ADD passkey_count :minus_one",
                # Of two removals racing for the last passkeys, the one that would leave
                # fewer than `keep` fails.
                "ConditionExpression": "passkey_count > :keep",
                "ExpressionAttributeValues": {":minus_one": n(-1), ":keep": n(keep)},
            }
        }
        items = [delete, count, account_event_put(self._table, event)]
        conflicts = {0: StaleWrite, 1: PasskeyCountRefused}
        transact(self._db, "remove_passkey", items, conflicts=conflicts)

    def put_sign_in(self, ceremony: SignInCeremony) -> None:
        put_new(self._db, self._table, "put_passkey_sign_in", sign_in_item(ceremony))

    def find_sign_in(self, digest: str) -> SignInCeremony | None:
        with aws("find_passkey_sign_in"):
            found = self._db.get_item(
                TableName=self._table, Key=sign_in_key(digest), ConsistentRead=True
            )
        return sign_in_from_item(digest, found["Item"]) if "Item" in found else None

    def record_account_event(self, event: AccountEvent) -> None:
        with aws("record_account_event"):
            self._db.put_item(TableName=self._table, Item=account_event_item(event))
