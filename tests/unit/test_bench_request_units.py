"""The bench's DynamoDB request units (bench/request_units.py) by DynamoDB's arithmetic,
over a table kept in a dict; and the interval the e-mail timing judges known against
unknown accounts by (bench/email_timing.py)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.email_timing import paired
from bench.request_units import Meter, Units, item_size, read_units, write_units

TABLE = "t"


class FakeTable:
    """GetItem, PutItem, UpdateItem (a whole new item in `Item`), DeleteItem, Query by pk,
    TransactWriteItems and DescribeTable over a dict keyed by (pk, sk)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    @staticmethod
    def _key(key: dict[str, Any]) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    def __call__(self, operation: str, params: dict[str, Any]) -> Any:
        if operation == "DescribeTable":
            return {"Table": {"KeySchema": [{"AttributeName": "pk"}, {"AttributeName": "sk"}]}}
        if operation == "GetItem":
            item = self.items.get(self._key(params["Key"]))
            return {"Item": item} if item else {}
        if operation == "Query":
            pk = params["ExpressionAttributeValues"][":pk"]["S"]
            return {"Items": [i for (p, _), i in self.items.items() if p == pk]}
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                for kind, action in entry.items():
                    self._apply(kind, action)
            return {}
        kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
        self._apply(kind, params)
        return {}

    def _apply(self, kind: str, action: dict[str, Any]) -> None:
        if action.get("fail"):
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, kind)
        if kind == "Put":
            self.items[self._key(action["Item"])] = action["Item"]
        elif kind == "Update":
            self.items[self._key(action["Key"])] = action["Item"]
        elif kind == "Delete":
            self.items.pop(self._key(action["Key"]), None)


def item(sk: str, size: int) -> dict[str, Any]:
    """An item of `size` bytes as DynamoDB counts them."""
    base = {"pk": {"S": "p"}, "sk": {"S": sk}, "v": {"S": ""}}
    base["v"] = {"S": "x" * (size - item_size(base))}
    assert item_size(base) == size
    return base


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def charged(table: FakeTable, operation: str, params: dict[str, Any]) -> Units:
    spent: list[Units] = []
    with contextlib.suppress(ClientError):
        Meter().measure(operation, {"TableName": TABLE, **params}, table, spent.append)
    return sum(spent, Units())


def test_writes_cost_a_unit_per_kb_of_the_larger_image_and_transactions_double() -> None:
    table = FakeTable()
    assert charged(table, "PutItem", {"Item": item("a", 100)}) == Units(write=1)
    assert charged(table, "UpdateItem", {"Key": key("a"), "Item": item("a", 2500)}) == Units(
        write=3
    )
    assert charged(table, "UpdateItem", {"Key": key("a"), "Item": item("a", 10)}) == Units(write=3)
    assert charged(table, "DeleteItem", {"Key": key("a")}) == Units(write=1)
    assert charged(table, "DeleteItem", {"Key": key("gone")}) == Units(write=1)
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": TABLE, "Item": item("b", 1500)}},
            {"ConditionCheck": {"TableName": TABLE, "Key": key("c")}},
        ]
    }
    assert charged(table, "TransactWriteItems", transaction) == Units(write=2 * (2 + 1))


def test_a_failed_condition_still_costs_the_write() -> None:
    table = FakeTable()
    table.items[("p", "a")] = item("a", 3000)
    assert charged(table, "PutItem", {"Item": item("a", 10), "fail": True}) == Units(write=3)
    assert table.items[("p", "a")] == item("a", 3000)


def test_reads_round_per_item_or_per_query_and_eventual_consistency_halves() -> None:
    table = FakeTable()
    for sk in ("a", "b", "c"):
        table.items[("p", sk)] = item(sk, 1500)
    get = {"Key": key("a"), "ConsistentRead": True}
    assert charged(table, "GetItem", get) == Units(read=1)
    assert charged(table, "GetItem", {"Key": key("none")}) == Units(read=0.5)
    query = {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "p"}},
        "ConsistentRead": True,
    }
    assert charged(table, "Query", query) == Units(read=2)  # 4500 bytes summed
    # A projection saves nothing: the items are billed whole.
    projected = {**query, "ProjectionExpression": "sk"}
    assert charged(table, "Query", projected) == Units(read=2)


def test_unit_arithmetic_at_the_edges() -> None:
    assert read_units([], summed=True, consistent=True) == 1
    assert read_units([4096, 1], summed=False, consistent=True) == 2
    assert read_units([4096, 1], summed=True, consistent=False) == 1
    assert write_units(None, 1024) == 1
    assert write_units(1025, None) == 2


@pytest.mark.parametrize(("shift", "holds_zero"), [(0, True), (300_000, False)])
def test_paired_differences_see_through_drift(shift: int, holds_zero: bool) -> None:
    """Times that climb tenfold over the run (the table growing) hide nothing: each
    round's two requests drift alike."""
    noise = [(i * 7919) % 200_000 - 100_000 for i in range(300)]
    unknown = [1_000_000 + i * 30_000 + noise[i] for i in range(300)]
    known = [u + shift + noise[-1 - i] for i, u in enumerate(unknown)]
    found = paired(known, unknown, resamples=500)
    assert found.holds_zero is holds_zero
    low, high = found.interval_ms
    assert low <= shift / 1e6 <= high
