"""DynamoDB's side of federation's identity providers (ProviderStore): one item per
provider in one partition with the count of them (provider_items.py). A registration
writes its provider and adds to the count in one transaction, each on its condition (the
id free, the count below the limit), so that racing registrations take an id once and
never pass the limit; a deletion takes the provider and one off the count together."""

from __future__ import annotations

from typing import Any

from session_service.adapters.dynamo import aws, dynamodb_client, transact
from session_service.adapters.provider_items import (
    PROVIDER_PREFIX,
    PROVIDERS_PARTITION,
    provider_count_key,
    provider_from_item,
    provider_item,
    provider_key,
)
from session_service.adapters.store_items import Item, s
from session_service.domain.federation.records import (
    MAX_PROVIDERS,
    IdentityProvider,
    ProvidersFull,
)
from session_service.domain.ports import AlreadyExists, StaleWrite, WriteConflict


class DynamoProviderStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def _count_change(self, change: int, limit: int | None = None) -> Item:
        update: Item = {
            "TableName": self._table,
            "Key": provider_count_key(),
            "UpdateExpression": "ADD #count :change",
            "ExpressionAttributeNames": {"#count": "count"},
            "ExpressionAttributeValues": {":change": {"N": str(change)}},
        }
        if limit is not None:
            update["ConditionExpression"] = "attribute_not_exists(#count) OR #count < :limit"
            update["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        return {"Update": update}

    def put_provider(self, provider: IdentityProvider, limit: int = MAX_PROVIDERS) -> None:
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": provider_item(provider),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._count_change(1, limit),
        ]
        # (sent again after a lost answer, DynamoDB recognises the transaction by its
        # ClientRequestToken, which botocore keeps, and answers it as done)
        conflicts = {0: AlreadyExists, 1: ProvidersFull}
        transact(self._db, "put_provider", items, conflicts=conflicts)

    def find_provider(self, provider_id: str) -> IdentityProvider | None:
        with aws("find_provider"):
            found = self._db.get_item(
                TableName=self._table, Key=provider_key(provider_id), ConsistentRead=True
            )
        item: Item | None = found.get("Item")
        return provider_from_item(item) if item else None

    def list_providers(self) -> list[IdentityProvider]:
        """One Query of the partition's providers (a few small items, MAX_PROVIDERS at
        most: one page), by id."""
        providers: list[IdentityProvider] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :providers AND begins_with(sk, :provider)",
            "ExpressionAttributeValues": {
                ":providers": s(PROVIDERS_PARTITION),
                ":provider": s(PROVIDER_PREFIX),
            },
            "ConsistentRead": True,
        }
        while True:
            with aws("list_providers"):
                page = self._db.query(**request)
            providers += [provider_from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return providers
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_provider(self, provider_id: str) -> bool:
        items = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": provider_key(provider_id),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            self._count_change(-1),
        ]
        try:
            transact(self._db, "delete_provider", items)
        except WriteConflict:
            raise  # another write in flight on the count: nothing is known, try again
        except StaleWrite:
            return False  # there was none
        return True


def dynamo_provider_store(table_name: str) -> DynamoProviderStore:
    return DynamoProviderStore(dynamodb_client(), table_name)
