"""Users' activity in DynamoDB: one partition per user (ACTIVITY#<user id>), sorted by
time, each entry with a TTL of the retention; a page is one Query, newest first, however
long the history. Devices a user signed in from: DEVICE#<user id> / <device digest>, with
the same TTL, renewed at each sign-in. The places of a window's attempt entries:
ACTIVITY_CAP#<user id> / W#<window>, until the window ends."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
from collections.abc import Iterable
from typing import Any

from session_service.adapters.dynamo import aws, take_place, update_if
from session_service.adapters.store_items import Item, key, n, s, ttl_seconds
from session_service.domain.activity.activity_log import ActivityEntry, ActivityPage, ActivityType
from session_service.domain.errors import InvalidRequest, Unavailable
from session_service.domain.models import Millis

_BATCH = 25
_DAY_MS = 86_400_000
# A sort key: the entry's time, zero-padded, then its id.
_SORT_KEY = re.compile(r"\d{13}#[\w:.\-]{1,200}")


def _partition(user_id: str) -> str:
    return f"ACTIVITY#{user_id}"


def entry_item(entry: ActivityEntry, retention_days: int) -> Item:
    item: Item = {
        **key(_partition(entry.user_id), f"{entry.at:013d}#{entry.entry_id}"),
        "kind": s("activity"),
        "type": s(entry.type),
        "at": n(entry.at),
        "ip": s(entry.ip),
        "user_agent": s(entry.user_agent),
        "ttl": n(ttl_seconds(entry.at + retention_days * _DAY_MS)),
    }
    if entry.session_id is not None:
        item["session_id"] = s(entry.session_id)
    if entry.reason is not None:
        item["reason"] = s(entry.reason)
    if entry.provider is not None:
        item["provider"] = s(entry.provider)
    return item


def entry_from_item(user_id: str, item: Item) -> ActivityEntry:
    kind: ActivityType = item["type"]["S"]
    return ActivityEntry(
        user_id=user_id,
        entry_id=str(item["sk"]["S"]).split("#", 1)[1],
        type=kind,
        at=int(item["at"]["N"]),
        ip=str(item["ip"]["S"]),
        user_agent=str(item["user_agent"]["S"]),
        session_id=item["session_id"]["S"] if "session_id" in item else None,
        reason=item["reason"]["S"] if "reason" in item else None,
        provider=item["provider"]["S"] if "provider" in item else None,
    )


def _cursor(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key["sk"]["S"]).encode()).decode()


def _sort_key_of(cursor: str) -> str:
    try:
        sort_key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        sort_key = None
    if not isinstance(sort_key, str) or not _SORT_KEY.fullmatch(sort_key):
        raise InvalidRequest("cursor is not one this API gave")
    return sort_key


class DynamoActivityStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def record(self, entries: Iterable[ActivityEntry], retention_days: int) -> None:
        puts = [{"PutRequest": {"Item": entry_item(e, retention_days)}} for e in entries]
        for start in range(0, len(puts), _BATCH):
            self._write(puts[start : start + _BATCH])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for attempt in range(5):
            with aws("record_activity"):
                answer = self._db.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05 * 2**attempt * random.random())  # noqa: S311
        # Failing the batch makes Lambda retry it (entries are idempotent: same keys).
        raise Unavailable(retry_after=1)

    def page(self, user_id: str, limit: int, cursor: str | None) -> ActivityPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(_partition(user_id))},
            "ScanIndexForward": False,
            "Limit": limit,
            "ConsistentRead": True,
        }
        if cursor:
            request["ExclusiveStartKey"] = key(_partition(user_id), _sort_key_of(cursor))
        with aws("activity_page"):
            answer = self._db.query(**request)
        entries = tuple(entry_from_item(user_id, item) for item in answer.get("Items", []))
        last = answer.get("LastEvaluatedKey")
        return ActivityPage(entries=entries, next_cursor=_cursor(last) if last else None)

    def admit(
        self, user_id: str, window: int, limit: int, window_ends_at: Millis, entry_id: str
    ) -> bool:
        taken = take_place(
            self._db,
            self._table,
            "admit_activity",
            key=key(f"ACTIVITY_CAP#{user_id}", f"W#{window}"),
            count="entries",
            holders="admitted",
            holder=entry_id,
            limit=limit,
            ttl=ttl_seconds(window_ends_at),
        )
        return taken is not None

    def seen_device(
        self, user_id: str, device: str, at: Millis, retention_days: int, seen_by: str
    ) -> bool:
        device_key = key(f"DEVICE#{user_id}", device)
        ttl = n(ttl_seconds(at + retention_days * _DAY_MS))
        values = {":at": n(at), ":ttl": ttl, ":by": s(seen_by), ":now": n(ttl_seconds(at))}
        # New: never seen, seen long enough ago that its TTL has passed (DynamoDB deletes
        # late), or found new by this very change before (a replayed batch): the change
        # that found it new is kept, so a replay finds it new again whatever came since.
        found_new = update_if(
            self._db,
            self._table,
            "new_device",
            Key=device_key,
            UpdateExpression="SET kind = :kind, last_seen = :at, #ttl = :ttl, new_by = :by",
            ConditionExpression="attribute_not_exists(pk) OR #ttl < :now OR new_by = :by",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={**values, ":kind": s("device")},
        )
        if found_new is not None:
            return False
        # Known: its last sign-in moves on (never back), the TTL with it.
        update_if(
            self._db,
            self._table,
            "seen_device",
            Key=device_key,
            UpdateExpression="SET last_seen = :at, #ttl = :ttl",
            ConditionExpression="last_seen < :at",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":at": n(at), ":ttl": ttl},
        )
        return True
