"""The DynamoDB client store lists every page of its partition's Query (a page is at most
1 MB: a few hundred clients may take more than one)."""

from __future__ import annotations

from typing import Any

from session_service.adapters.client_items import client_item
from session_service.adapters.client_store import DynamoClientStore
from session_service.domain.sso.clients import OAuthClient


def _client(index: int) -> OAuthClient:
    return OAuthClient(
        client_id=f"00000000-0000-4000-8000-00000000000{index}",
        name=f"App {index}",
        client_type="public",
        redirect_uris=(f"https://app{index}.example.test/cb",),
        post_logout_redirect_uris=(),
        backchannel_logout_uri=None,
        secret_digest=None,
        created_at=index,
        updated_at=index,
    )


class PagedTable:
    """DynamoDB's Query, two items a page."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = int(request.get("ExclusiveStartKey", {}).get("at", {}).get("N", "0"))
        page: dict[str, Any] = {"Items": self.items[start : start + 2]}
        if start + 2 < len(self.items):
            page["LastEvaluatedKey"] = {"at": {"N": str(start + 2)}}
        return page


def test_every_page_of_the_partition_is_read_consistently() -> None:
    clients = [_client(index) for index in range(5)]
    table = PagedTable([client_item(client) for client in clients])
    assert DynamoClientStore(table, "t").list_clients() == clients
    assert len(table.requests) == 3
    assert all(request["ConsistentRead"] is True for request in table.requests)
    assert {
        request["ExpressionAttributeValues"][":clients"]["S"] for request in table.requests
    } == {"OAUTH_CLIENTS"}
