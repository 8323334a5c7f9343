"""DynamoDB's side of single sign-on's clients (ClientStore): one item per client in one
partition, each change with its conditions, registrations and deletions with the record
their event comes from (client_items.py)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.client_items import (
    CLIENTS_PARTITION,
    client_event_item,
    client_from_item,
    client_item,
    client_key,
)
from session_service.adapters.dynamo import aws, dynamodb_client, is_condition_failure, transact
from session_service.adapters.store_items import Item, n, s
from session_service.domain.models import ClientEvent, Millis
from session_service.domain.ports import AlreadyExists, StaleWrite
from session_service.domain.sso.clients import OAuthClient


class DynamoClientStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def _event_put(self, event: ClientEvent) -> Item:
        return {
            "Put": {
                "TableName": self._table,
                "Item": client_event_item(event),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def put_client(self, client: OAuthClient, event: ClientEvent) -> None:
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": client_item(client),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._event_put(event),
        ]
        # (sent again after a lost answer, DynamoDB recognises the transaction by its
        # ClientRequestToken, which botocore keeps, and answers it as done)
        transact(self._db, "put_client", items, conflicts={0: AlreadyExists})

    def find_client(self, client_id: str) -> OAuthClient | None:
        with aws("find_client"):
            found = self._db.get_item(
                TableName=self._table, Key=client_key(client_id), ConsistentRead=True
            )
        item: Item | None = found.get("Item")
        return client_from_item(item) if item else None

    def list_clients(self) -> list[OAuthClient]:
        """The partition's every item, page by page (admin only: as many as there are
        clients)."""
        clients: list[OAuthClient] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :clients",
            "ExpressionAttributeValues": {":clients": s(CLIENTS_PARTITION)},
            "ConsistentRead": True,
        }
        while True:
            with aws("list_clients"):
                page = self._db.query(**request)
            clients += [client_from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return clients
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def replace_client(self, client: OAuthClient, expected_updated_at: Millis) -> None:
        item = client_item(client)
        with aws("replace_client"):
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="updated_at = :seen",
                    ExpressionAttributeValues={":seen": n(expected_updated_at)},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                # The same write sent again after its answer was lost finds itself there.
                if error.response.get("Item") != item:
                    raise StaleWrite() from None

    def delete_client(self, client_id: str, event: ClientEvent) -> None:
        items = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": client_key(client_id),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            self._event_put(event),
        ]
        transact(self._db, "delete_client", items)


def dynamo_client_store(table_name: str) -> DynamoClientStore:
    return DynamoClientStore(dynamodb_client(), table_name)
