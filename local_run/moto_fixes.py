"""moto's DynamoDB transactions, made to behave as DynamoDB's do where the service depends
on it. Installed in the embedded emulator and in the tests that run moto in process.

moto rolls a cancelled transaction back by putting back a deep copy of every table it
touched. That costs a copy of the whole table per transaction (the local run slowed down
as its table grew), and the copy carries a copy of the table's stream shard: every stream
reader's shard iterator keeps pointing at the discarded one and never sees another record.
Any burst of logins that conflicted on a user's version stalled the published events for
good, silently.

Here a transaction checks every condition against the state before it (DynamoDB allows
one operation per item, so no operation can see another's write) and writes only when
all hold: a cancelled transaction changes nothing and needs no copy. Should a write still
fail half-way (a validation error moto finds only while applying), the touched items are
put back and the stream records written meanwhile are withdrawn.

moto also checks the size of a key (2,048 bytes for a partition key, 1,024 for a sort key)
only when an item is written; DynamoDB refuses an over-long key in every request that
names one: a read, a delete or a conditional update answers ValidationException, and a
transaction is cancelled with ValidationError. Here those requests check it too.

moto ignores a transaction's ClientRequestToken. botocore sends one with every
TransactWriteItems and sends the same one when it retries (after a timeout, say), and
DynamoDB answers a repeat of a transaction that succeeded, for ten minutes, with success
and no second write. moto applied the repeat: a registration whose answer came late was
retried into its own 409 conflict. Here a repeat is answered as DynamoDB answers it."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_MAX_ITEMS = 100


_ORIGINAL = {
    name: getattr(DynamoDBBackend, name) for name in ("get_item", "delete_item", "update_item")
}
_ORIGINAL_HANDLER = DynamoHandler.transact_write_items
# DynamoDB's idempotency window for a transaction's ClientRequestToken.
IDEMPOTENCY_SECONDS = 600
_done: dict[str, tuple[str, float, Any]] = {}
_done_lock = threading.Lock()


def install() -> None:
    """Replace moto's transact_write_items, and check keys where moto does not (idempotent)."""
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = _idempotent_transact  # type: ignore[method-assign]
    for name, original in _ORIGINAL.items():
        setattr(DynamoDBBackend, name, _checking_key_sizes(original))


def _binary_as_hex(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} in a transaction's items")


def _idempotent_transact(self: DynamoHandler) -> Any:
    """A repeat of a successful transaction (same token, same items) within the window is
    answered with its success and writes nothing, as DynamoDB does."""
    token = self.body.get("ClientRequestToken")
    if not token:
        return _ORIGINAL_HANDLER(self)
    # (binary attribute values arrive decoded, as bytes)
    body = json.dumps(self.body["TransactItems"], sort_keys=True, default=_binary_as_hex)
    items = hashlib.sha256(body.encode())
    now = time.monotonic()
    with _done_lock:
        for stale in [t for t, (_, at, _) in _done.items() if now - at > IDEMPOTENCY_SECONDS]:
            del _done[stale]
        seen = _done.get(token)
    if seen is not None and seen[0] == items.hexdigest():
        return seen[2]
    result = _ORIGINAL_HANDLER(self)
    with _done_lock:
        _done[token] = (items.hexdigest(), now, result)
    return result


def _checking_key_sizes(operation: Any) -> Any:
    def checked(
        self: DynamoDBBackend, table_name: str, key: dict[str, Any], *a: Any, **k: Any
    ) -> Any:
        _check_key_sizes(self, table_name, key)
        return operation(self, table_name, key, *a, **k)

    return checked


def _check_key_sizes(backend: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> None:
    backend.get_table(table_name)._validate_key_sizes(key)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > _MAX_ITEMS:
        raise TooManyTransactionsException()
    targets: set[tuple[str, str]] = set()
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    planned: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        operation, request = next(iter(entry.items()))
        if operation not in _OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = request["TableName"]
        key = _key_of(self, operation, request)
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        try:
            _check_key_sizes(self, table_name, key)
        except MockValidationException as error:
            reasons.append(("ValidationError", error.message, None))
            continue
        current = _ORIGINAL["get_item"](self, table_name, key)
        condition = request.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition,
                request.get("ExpressionAttributeNames"),
                request.get("ExpressionAttributeValues"),
            )
            if not check.expr(current):
                wants_item = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                item = current.to_json()["Attributes"] if wants_item and current else None
                reasons.append(("ConditionalCheckFailed", "The conditional request failed", item))
                continue
        reasons.append((None, None, None))
        planned.append((operation, table_name, key, request))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    _apply(self, planned)


def _key_of(backend: DynamoDBBackend, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    if operation != "Put":
        return dict(request["Key"])
    table = backend.get_table(request["TableName"])
    attributes = request["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _apply(
    backend: DynamoDBBackend, planned: list[tuple[str, str, dict[str, Any], dict[str, Any]]]
) -> None:
    """Write every planned operation; all conditions were checked already."""
    undo: list[tuple[Any, DynamoType, DynamoType | None, Any]] = []
    stream_lengths: dict[int, tuple[Any, int]] = {}
    try:
        for operation, table_name, key, request in planned:
            if operation == "ConditionCheck":
                continue
            table = backend.get_table(table_name)
            shard = table.stream_shard
            if shard is not None:
                stream_lengths.setdefault(id(shard), (shard, len(shard.items)))
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            previous = table.get_item(hash_value, range_value)
            undo.append((table, hash_value, range_value, copy.deepcopy(previous)))
            names = request.get("ExpressionAttributeNames") or {}
            values = request.get("ExpressionAttributeValues") or {}
            if operation == "Put":
                backend.put_item(table_name, request["Item"])
            elif operation == "Delete":
                backend.delete_item(table_name, key)
            else:
                backend.update_item(
                    table_name,
                    key,
                    update_expression=request["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        for table, hash_value, range_value, previous in reversed(undo):
            _restore(table, hash_value, range_value, previous)
        for shard, length in stream_lengths.values():
            del shard.items[length:]
        raise


def _restore(table: Any, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items[hash_value].pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item
