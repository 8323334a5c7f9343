"""DynamoDB plumbing shared by the stores: one client per container, and AWS failures
turned into the 503 a client may retry."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from session_service.adapters.aws import aws_client
from session_service.domain.concurrency import ParallelCalls
from session_service.domain.errors import Unavailable
from session_service.domain.ports import StaleWrite, StoreError, WriteConflict
from session_service.observability import logger

_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        # A single-item write that met a transaction in progress on the same item.
        "TransactionConflictException",
        # A transaction sent again (same ClientRequestToken) while its first attempt runs.
        "TransactionInProgressException",
    }
)


@contextmanager
def aws(operation: str) -> Iterator[None]:
    """Turn throttling, faults and timeouts into a 503 the client may retry."""
    try:
        yield
    except ClientError as error:
        # Condition failures are handled inside the block; anything reaching here is a
        # failure of DynamoDB or of our request, never the client's.
        code = error.response.get("Error", {}).get("Code", "")
        if code not in _UNAVAILABLE_CODES:
            logger.error("unexpected DynamoDB error", operation=operation, error_code=code)
        else:
            logger.warning("DynamoDB unavailable", operation=operation, error_code=code)
        raise Unavailable(retry_after=1) from None
    except BotoCoreError as error:
        logger.warning("DynamoDB unreachable", operation=operation, error=type(error).__name__)
        raise Unavailable(retry_after=1) from None


def is_condition_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def raise_for_cancellation(
    error: ClientError, conflicts: Mapping[int, type[StoreError]] | None = None
) -> None:
    """Map a cancelled transaction to the domain meaning of its first failed condition
    (by position; StaleWrite by default). Throttling is a 503."""
    codes = cancellation_codes(error)
    if any(code in ("ThrottlingError", "ProvisionedThroughputExceeded") for code in codes):
        raise Unavailable(retry_after=1) from None
    for index, code in enumerate(codes):
        if code == "ConditionalCheckFailed":
            raise (conflicts or {}).get(index, StaleWrite)() from None
    if "TransactionConflict" in codes:
        raise WriteConflict() from None
    logger.error("transaction cancelled", codes=codes)
    raise Unavailable(retry_after=1) from None


def transact(client: Any, operation: str, items: list[dict[str, Any]], **mapping: Any) -> None:
    """One TransactWriteItems; a cancellation becomes the domain error of `conflicts`."""
    with aws(operation):
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise_for_cancellation(error, mapping.get("conflicts"))


def take_place(
    client: Any,
    table: str,
    operation: str,
    *,
    key: dict[str, Any],
    count: str,
    holders: str,
    holder: str,
    limit: int,
    ttl: int,
    ttl_expression: str = "if_not_exists(#ttl, :ttl)",
    conflicts: bool = False,
) -> int | None:
    """One of a counter's `limit` places (the attribute `count`) for `holder`, whose id
    joins the set `holders`: the count with it, or None when the counter is full. Of N racing
    writes exactly the free places' worth succeed; a holder takes one place at most, so the
    same write sent again (its answer lost, or a replayed batch) finds its own place. With
    `conflicts`, one that met a transaction in flight on the counter raises WriteConflict
    (nothing written) instead of a 503."""
    with aws(operation):
        try:
            taken = client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=f"ADD #count :one, #holders :holder SET #ttl = {ttl_expression}",
                ConditionExpression=(
                    "(attribute_not_exists(#count) OR #count < :limit)"
                    " AND NOT contains(#holders, :id)"
                ),
                ExpressionAttributeNames={"#count": count, "#holders": holders, "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(ttl)},
                    ":holder": {"SS": [holder]},
                    ":id": {"S": holder},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if conflicts and error.response["Error"]["Code"] == "TransactionConflictException":
                raise WriteConflict() from None  # a transaction in flight on it: again
            if not is_condition_failure(error):
                raise
            current = error.response.get("Item", {})
            if holder in current.get(holders, {}).get("SS", []):
                return int(current[count]["N"])  # its own place, taken before
            return None
    return int(taken["Attributes"][count]["N"])


def put_new(client: Any, table: str, operation: str, item: dict[str, Any]) -> None:
    """Put an item under a key of 256 random bits, which never collides with another's: a
    put that finds its key taken finds its own earlier attempt (botocore sent it again
    after its answer was lost), and has succeeded."""
    with aws(operation):
        try:
            client.put_item(
                TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise


def update_if(client: Any, table: str, operation: str, **request: Any) -> dict[str, Any] | None:
    """An UpdateItem whose condition may fail: its returned attributes, or None if it did."""
    with aws(operation):
        try:
            response = client.update_item(TableName=table, **request)
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
    return dict(response.get("Attributes", {}))


# Threads per container for DynamoDB calls sent at once (a login's give-backs are the
# most: six); with the request's own thread, within botocore's 10 pooled connections. The
# pool is made by the first function that asks (the API's, never the authorizer, which
# sends nothing at once and so imports no thread pool), and outlives the tests' resets.
PARALLEL_CALLS = 8
POOL: list[ParallelCalls] = []


def parallel_calls() -> ParallelCalls:
    """The container's pool for calls that do not wait on each other (domain/concurrency)."""
    if not POOL:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        POOL.append(ParallelCalls(ThreadPoolExecutor(PARALLEL_CALLS, "dynamodb")))
    return POOL[0]


@functools.cache
def dynamodb_client() -> Any:
    """One client per container, created on first use (tests start moto before it)."""
    return aws_client("dynamodb")
