"""DynamoDB's TTL, run locally: neither moto nor DynamoDB Local deletes expired items, so
the local run does, as AWS would (late, in the background, and only items still expired
when deleted), so that a local table's size and reads behave as a deployed one's."""

from __future__ import annotations

import threading
import time
from typing import Any

from local_run.provision import TtlTable
from local_run.pumps import log

SWEEP_INTERVAL = 2.0


def expired_keys(client: Any, table: TtlTable, now: int) -> list[dict[str, Any]]:
    """Keys of the items whose TTL attribute lies in the past (epoch seconds)."""
    request: dict[str, Any] = {
        "TableName": table.table_name,
        "FilterExpression": "#ttl < :now",
        "ProjectionExpression": ", ".join(f"#key{i}" for i in range(len(table.key_attributes))),
        "ExpressionAttributeNames": {
            "#ttl": table.attribute,
            **{f"#key{i}": name for i, name in enumerate(table.key_attributes)},
        },
        "ExpressionAttributeValues": {":now": {"N": str(now)}},
    }
    keys: list[dict[str, Any]] = []
    while True:
        page = client.scan(**request)
        keys.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return keys
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sweep(client: Any, table: TtlTable, now: int | None = None) -> int:
    """Delete what has expired; the number deleted."""
    now = int(time.time()) if now is None else now
    deleted = 0
    for key in expired_keys(client, table, now):
        try:
            client.delete_item(
                TableName=table.table_name,
                Key=key,
                # Renewed meanwhile (a refresh moves a session's TTL): it stays.
                ConditionExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": table.attribute},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            deleted += 1
        except client.exceptions.ConditionalCheckFailedException:
            continue
    return deleted


class TtlSweeper(threading.Thread):
    def __init__(self, tables: list[TtlTable], client: Any, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="ttl-sweeper")
        self.tables, self.client, self.stop_event = tables, client, stop

    def run(self) -> None:
        while not self.stop_event.wait(SWEEP_INTERVAL):
            for table in self.tables:
                try:
                    sweep(self.client, table)
                except Exception as error:
                    log("ERROR", "the TTL sweeper failed", table=table.table_name, error=str(error))
