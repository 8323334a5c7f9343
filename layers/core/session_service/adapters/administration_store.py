"""An administrator's writes in DynamoDB: disabling or enabling an account (its profile and
credential together, the sessions a disable ends, and the record its event comes from),
and lifting a username's login lock."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import transact, update_if
from session_service.adapters.store_items import Item, login_key, n, profile_key
from session_service.adapters.store_writes import account_event_put, ending_items
from session_service.domain.models import Credential
from session_service.domain.ports import AccountStatusChange, StaleWrite


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

    def lift_login_lock(self, credential: Credential) -> None:
        lifted = update_if(
            self._db,
            self._table,
            "lift_login_lock",
            Key=login_key(credential.username_key),
            UpdateExpression="ADD throttle_generation :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": n(1)},
        )
        if lifted is None:
            raise StaleWrite()
