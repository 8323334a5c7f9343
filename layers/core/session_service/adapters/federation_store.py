"""DynamoDB's side of federation (FederationStore): flows, handoffs and link intents
under their digests, spent by conditional writes; identities beside the credential they
sign in, whose count of identities (`identity_count`) serialises linking and unlinking,
so the last way to sign in holds under bursts (federation_items.py has the keys)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import aws, is_condition_failure, put_new, transact
from session_service.adapters.federation_items import (
    account_identities_partition,
    account_identity_item,
    flow_from_item,
    flow_item,
    flow_key,
    handoff_from_item,
    handoff_item,
    handoff_key,
    identity_from_item,
    identity_item,
    identity_key,
    link_from_item,
    link_item,
    link_key,
)
from session_service.adapters.store_items import (
    Item,
    credential_item,
    key,
    login_key,
    n,
    profile_item,
    s,
)
from session_service.adapters.store_writes import account_event_put
from session_service.domain.federation.flow_records import (
    FederationFlow,
    Handoff,
    LinkedIdentity,
    LinkIntent,
)
from session_service.domain.federation.identities import MAX_IDENTITIES
from session_service.domain.models import AccountEvent, Credential, UserProfile
from session_service.domain.ports import AlreadyExists


class DynamoFederationStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def _get(self, operation: str, item_key: Item) -> Item | None:
        with aws(operation):
            found = self._db.get_item(TableName=self._table, Key=item_key, ConsistentRead=True)
        item: Item | None = found.get("Item")
        return item

    def put_flow(self, flow: FederationFlow) -> None:
        put_new(self._db, self._table, "put_federation_flow", flow_item(flow))

    def find_flow(self, digest: str) -> FederationFlow | None:
        item = self._get("find_federation_flow", flow_key(digest))
        return flow_from_item(item) if item and "spent_by" not in item else None

    def spend_flow(self, digest: str, spender: str) -> bool:
        with aws("spend_federation_flow"):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=flow_key(digest),
                    UpdateExpression="SET spent_by = :me",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(spent_by)",
                    ExpressionAttributeValues={":me": s(spender)},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                # Its own spend, sent again after a lost answer, finds its own mark.
                spent_by = error.response.get("Item", {}).get("spent_by", {}).get("S")
                return bool(spent_by == spender)
        return True

    def put_handoff(self, handoff: Handoff) -> None:
        put_new(self._db, self._table, "put_handoff", handoff_item(handoff))

    def find_handoff(self, digest: str) -> Handoff | None:
        item = self._get("find_handoff", handoff_key(digest))
        return handoff_from_item(item) if item else None

    def spend_handoff(self, digest: str) -> bool:
        with aws("spend_handoff"):
            try:
                self._db.delete_item(
                    TableName=self._table,
                    Key=handoff_key(digest),
                    ConditionExpression="attribute_exists(pk)",
                )
            except ClientError as error:
                if is_condition_failure(error):
                    return False
                raise
        return True

    def put_link_intent(self, intent: LinkIntent) -> None:
        put_new(self._db, self._table, "put_link_intent", link_item(intent))

    def find_link_intent(self, digest: str) -> LinkIntent | None:
        item = self._get("find_link_intent", link_key(digest))
        return link_from_item(item) if item else None

    def take_link_intent(self, digest: str) -> LinkIntent | None:
        with aws("take_link_intent"):
            try:
                old = self._db.delete_item(
                    TableName=self._table,
                    Key=link_key(digest),
                    ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_OLD",
                )
            except ClientError as error:
                if is_condition_failure(error):
                    return None
                raise
        item: Item | None = old.get("Attributes")
        return link_from_item(item) if item else None

    def find_identity(self, provider_id: str, subject: str) -> LinkedIdentity | None:
        item = self._get("find_identity", identity_key(provider_id, subject))
        return identity_from_item(item) if item else None

    def _new(self, item: Item) -> Item:
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def create_account(
        self,
        credential: Credential,
        profile: UserProfile,
        identity: LinkedIdentity,
        event: AccountEvent,
    ) -> None:
        items = [
            self._new(identity_item(identity)),
            self._new(credential_item(credential)),
            self._new(profile_item(profile)),
            self._new(account_identity_item(identity)),
            account_event_put(self._table, event),
        ]
        # (sent again after a lost answer, the transaction's ClientRequestToken, which
        # botocore keeps, makes DynamoDB answer it as done)
        transact(
            self._db,
            "create_federated_account",
            items,
            conflicts={0: AlreadyExists, 1: AlreadyExists},
        )

    def _counted(self, credential: Credential, change: int, condition: str) -> Item:
        """The credential's identity count moved by `change`, on the credential as read."""
        values: Item = {
            ":user": s(credential.user_id),
            ":version": n(credential.password_version),
            ":change": n(change),
            ":zero": n(0),
        }
        return {
            "Update": {
                "TableName": self._table,
                "Key": login_key(credential.username_key),
                "UpdateExpression": (
                    "SET identity_count = if_not_exists(identity_count, :zero) + :change"
                ),
                "ConditionExpression": (
                    "user_id = :user AND password_version = :version AND " + condition
                ),
                "ExpressionAttributeValues": values,
            }
        }

    def link_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        counted = self._counted(
            credential,
            1,
            "(attribute_not_exists(identity_count) OR identity_count < :max)",
        )
        counted["Update"]["ExpressionAttributeValues"][":max"] = n(MAX_IDENTITIES)
        items = [
            self._new(identity_item(identity)),
            counted,
            self._new(account_identity_item(identity)),
            account_event_put(self._table, event),
        ]
        transact(self._db, "link_identity", items, conflicts={0: AlreadyExists})

    def reissue(self, identity: LinkedIdentity, issuer: str) -> None:
        values = {":user": s(identity.user_id), ":was": s(identity.issuer), ":now": s(issuer)}
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": item_key,
                    "UpdateExpression": "SET issuer = :now",
                    "ConditionExpression": "user_id = :user AND issuer = :was",
                    "ExpressionAttributeValues": values,
                }
            }
            for item_key in (
                identity_key(identity.provider_id, identity.subject),
                key(account_identities_partition(identity.user_id), identity.identity_id),
            )
        ]
        transact(self._db, "reissue_identity", items)

    def list_identities(self, user_id: str) -> list[LinkedIdentity]:
        with aws("list_identities"):
            found = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(account_identities_partition(user_id))},
                ConsistentRead=True,
                Limit=MAX_IDENTITIES * 2,
            )
        return [identity_from_item(item) for item in found.get("Items", [])]

    def unlink_identity(
        self, credential: Credential, identity: LinkedIdentity, event: AccountEvent
    ) -> None:
        # On the credential as read: its identities, and its passkeys (the domain judged
        # the last way to sign in from them; a change meanwhile makes it judge again).
        passkeys = (
            "passkey_count = :passkeys"
            if credential.passkeys
            else "(attribute_not_exists(passkey_count) OR passkey_count = :passkeys)"
        )
        counted = self._counted(credential, -1, f"identity_count = :seen AND {passkeys}")
        values = counted["Update"]["ExpressionAttributeValues"]
        values[":seen"] = n(credential.identities)
        values[":passkeys"] = n(credential.passkeys)
        owned = {":user": s(identity.user_id)}
        items = [
            counted,
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": identity_key(identity.provider_id, identity.subject),
                    "ConditionExpression": "user_id = :user",
                    "ExpressionAttributeValues": owned,
                }
            },
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": key(
                        account_identities_partition(identity.user_id), identity.identity_id
                    ),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            account_event_put(self._table, event),
        ]
        transact(self._db, "unlink_identity", items)
