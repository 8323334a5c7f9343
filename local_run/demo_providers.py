"""GET /demo/providers (the local run only, never deployed): the identity providers the
run has registered (their id and name, nothing sealed), for the demo page's buttons. A
deployed frontend knows its providers from its own configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local_run.responses import GatewayResponse

_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


def providers(dynamodb: Any, table: str) -> Callable[[str], GatewayResponse]:
    def answer(_query: str) -> GatewayResponse:
        try:
            found = dynamodb.query(
                TableName=table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :idp)",
                ExpressionAttributeValues={":pk": {"S": "IDPS"}, ":idp": {"S": "IDP#"}},
            )
        except (BotoCoreError, ClientError):
            body = {"error": "unavailable", "error_description": "The table did not answer."}
            return GatewayResponse(
                503, [*_HEADERS, ("Retry-After", "1")], json.dumps(body).encode()
            )
        listed = [
            {"provider_id": item["sk"]["S"].removeprefix("IDP#"), "name": item["name"]["S"]}
            for item in found.get("Items", [])
        ]
        return GatewayResponse(200, list(_HEADERS), json.dumps({"providers": listed}).encode())

    return answer
