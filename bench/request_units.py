"""DynamoDB request units of each call, by DynamoDB's own arithmetic: moto's
ConsumedCapacity is a constant, so the units are worked out from the items a call read or
wrote (on-demand pricing: read and write request units, RRU and WRU).

- Reads: 4 KB per unit; a strongly consistent read 1 unit, an eventually consistent one
  half; GetItem and BatchGetItem round each item up (a key with no item still costs a
  unit), Query and Scan add up the items before rounding, TransactGetItems costs double.
  Billed on whole items: a projection or a filter saves nothing, so the items are read
  again whole to size them.
- Writes: 1 KB per unit, on the larger of the item before and after (a delete: before);
  a conditional write that fails still costs its units; TransactWriteItems costs double
  per item, its ConditionChecks included.

The before and after images are read with the original botocore call, which nobody
counts. The table has no secondary index (template.yaml), so no index writes are added."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Call = Callable[[str, dict[str, Any]], Any]  # (operation, params) -> response, uncounted

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_SINGLE_WRITES = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}


@dataclass(frozen=True)
class Units:
    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: Units) -> Units:
        return Units(self.read + other.read, self.write + other.write)

    def __str__(self) -> str:
        return f"{_number(self.read)} / {_number(self.write)}"


def _number(value: float) -> str:
    return f"{value:g}"


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values (numbers approximated)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _bytes(content: str | bytes) -> int:
    return len(content.encode() if isinstance(content, str) else content)


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind in ("S", "B"):
        return _bytes(content)
    if kind in ("N", "NS"):
        numbers = content if kind == "NS" else [content]
        return sum(len(str(number)) // 2 + 1 for number in numbers)
    if kind in ("SS", "BS"):
        return sum(_bytes(part) for part in content)
    if kind == "M":
        return 3 + item_size(content)
    if kind == "L":
        return 3 + sum(1 + _value_size(part) for part in content)
    return 1  # BOOL, NULL


def read_units(sizes: list[int], *, summed: bool, consistent: bool) -> float:
    """Units of a read that returned items of these sizes (bytes)."""
    if summed:
        units = max(1, math.ceil(sum(sizes) / 4096))
    else:
        units = sum(max(1, math.ceil(size / 4096)) for size in sizes) or 1
    return units if consistent else units / 2


def write_units(before: int | None, after: int | None) -> int:
    """Units of one item's write, given its size before and after (None: no item)."""
    return max(1, math.ceil(max(before or 0, after or 0) / 1024))


class Meter:
    """Works out the units of each DynamoDB call it is handed."""

    def __init__(self) -> None:
        self._key_names: dict[str, tuple[str, ...]] = {}

    def measure(
        self,
        operation: str,
        params: dict[str, Any],
        call: Call,
        charge: Callable[[Units], None],
    ) -> Any:
        """Make the call (through `call`), charge its units and return its response. A
        write that raises (a condition that failed) is charged too, on the item as it is."""
        if operation in READS:
            response = call(operation, params)
            charge(Units(read=self._read(operation, params, response, call)))
            return response
        if operation in WRITES:
            return self._write(operation, params, call, charge)
        return call(operation, params)

    # -- reads ----------------------------------------------------------------------------

    def _read(self, operation: str, params: dict[str, Any], response: Any, call: Call) -> float:
        consistent = bool(params.get("ConsistentRead", False))
        if operation == "GetItem":
            item = response.get("Item")
            if item is not None and "ProjectionExpression" in params:
                item = self._image(params["TableName"], params["Key"], call)
            sizes = [item_size(item)] if item else []
            return read_units(sizes, summed=False, consistent=consistent)
        if operation == "BatchGetItem":
            total = 0.0
            for table, request in params["RequestItems"].items():
                items = [self._image(table, key, call) for key in request["Keys"]]
                # A key with no item still costs a unit.
                sizes = [item_size(item) if item else 0 for item in items]
                total += read_units(
                    sizes, summed=False, consistent=bool(request.get("ConsistentRead"))
                )
            return total
        if operation == "TransactGetItems":
            items = [
                self._image(get["Get"]["TableName"], get["Get"]["Key"], call)
                for get in params["TransactItems"]
            ]
            sizes = [item_size(item) if item else 0 for item in items]
            return 2 * read_units(sizes, summed=False, consistent=True)
        items = response.get("Items", [])
        if {"ProjectionExpression", "FilterExpression", "Select"} & params.keys():
            items = call(operation, _whole_items(params)).get("Items", [])
        sizes = [item_size(item) for item in items]
        return read_units(sizes, summed=True, consistent=consistent)

    # -- writes ---------------------------------------------------------------------------

    def _write(
        self,
        operation: str,
        params: dict[str, Any],
        call: Call,
        charge: Callable[[Units], None],
    ) -> Any:
        actions: list[tuple[str, str, Mapping[str, Any]]] = []
        factor = 1
        if operation in _SINGLE_WRITES:
            actions.append((params["TableName"], _SINGLE_WRITES[operation], params))
        elif operation == "TransactWriteItems":
            factor = 2
            for entry in params["TransactItems"]:
                for kind, action in entry.items():
                    actions.append((action["TableName"], kind, action))
        else:  # BatchWriteItem
            for table, requests in params["RequestItems"].items():
                for entry in requests:
                    if "PutRequest" in entry:
                        actions.append((table, "Put", entry["PutRequest"]))
                    else:
                        actions.append((table, "Delete", entry["DeleteRequest"]))
        keys = [(table, self._key(table, kind, action, call)) for table, kind, action in actions]
        before = [_size(self._image(table, key, call)) for table, key in keys]
        try:
            response = call(operation, params)
        except Exception:
            charge(Units(write=factor * sum(write_units(b, None) for b in before)))
            raise
        after = [_size(self._image(table, key, call)) for table, key in keys]
        units = sum(write_units(b, a) for b, a in zip(before, after, strict=True))
        charge(Units(write=factor * units))
        return response

    def _key(self, table: str, kind: str, action: Mapping[str, Any], call: Call) -> dict[str, Any]:
        if kind == "Put":
            names = self._key_schema(table, call)
            return {name: action["Item"][name] for name in names}
        return dict(action["Key"])

    def _key_schema(self, table: str, call: Call) -> tuple[str, ...]:
        if table not in self._key_names:
            description = call("DescribeTable", {"TableName": table})["Table"]
            self._key_names[table] = tuple(k["AttributeName"] for k in description["KeySchema"])
        return self._key_names[table]

    @staticmethod
    def _image(table: str, key: Mapping[str, Any], call: Call) -> dict[str, Any] | None:
        found = call("GetItem", {"TableName": table, "Key": dict(key), "ConsistentRead": True})
        item = found.get("Item")
        return dict(item) if item is not None else None


def _size(item: Mapping[str, Any] | None) -> int | None:
    return None if item is None else item_size(item)


_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def _whole_items(params: dict[str, Any]) -> dict[str, Any]:
    """The same Query or Scan, returning whole items: no projection, filter or Select,
    and only the names and values its key condition still uses."""
    whole = {
        key: value
        for key, value in params.items()
        if key
        not in {
            "ProjectionExpression",
            "FilterExpression",
            "Select",
            "ExpressionAttributeNames",
            "ExpressionAttributeValues",
        }
    }
    used = set(_PLACEHOLDER.findall(str(params.get("KeyConditionExpression", ""))))
    names = {k: v for k, v in params.get("ExpressionAttributeNames", {}).items() if k in used}
    values = {k: v for k, v in params.get("ExpressionAttributeValues", {}).items() if k in used}
    if names:
        whole["ExpressionAttributeNames"] = names
    if values:
        whole["ExpressionAttributeValues"] = values
    return whole
