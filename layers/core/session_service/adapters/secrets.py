"""Secrets Manager: the signing-key and second-factor secrets, cached per container.

A small cache of its own rather than Powertools' parameters, which imports boto3 (and
s3transfer) on first use: the authorizer, which reads the signing keys on its first
request, would pay for that on every cold start. The client is the one factory's."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from session_service.adapters.aws import aws_client
from session_service.domain.errors import Unavailable
from session_service.domain.keys.keyring import KeyRingError, SecretFetcher
from session_service.observability import logger

# After a failed read, how long the value read before serves until the next attempt.
STALE_RETRY_SECONDS = 5


@functools.cache
def secrets_client() -> Any:
    return aws_client("secretsmanager")


def secrets_manager_fetcher(
    secret_id: str,
    max_age: int,
    what: str = "the signing-key secret",
    clock: Callable[[], float] = time.monotonic,
) -> SecretFetcher:
    """Fetch a JSON secret, at most once per `max_age` seconds unless forced."""

    def read() -> str:
        # The stage is Secrets Manager's default; naming it also makes moto follow a
        # rotation (its default version does not move with the stage).
        answer = secrets_client().get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
        return str(answer["SecretString"])

    return cached_json_fetcher(read, max_age, what, clock)


def json_object(text: str, what: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise KeyRingError(f"{what} is not JSON") from None
    if not isinstance(value, Mapping):
        raise KeyRingError(f"{what} is not a JSON object")
    return value


def cached_json_fetcher(
    read: Callable[[], str],
    max_age: int,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    decode: Callable[[str], Mapping[str, Any]] | None = None,
) -> SecretFetcher:
    """A JSON object `read` returns (or what `decode` makes of the text), read at most once
    per `max_age` seconds unless forced. The same read-only mapping is returned until it is
    read again, so that what parses it (keyring.KeySource) parses it once. When a read
    fails, the value read before is kept (its keys carry their own lifetimes) and read
    again after STALE_RETRY_SECONDS: a throttled Parameter Store or Secrets Manager does not
    fail the requests in between."""
    cached: dict[str, Any] = {}

    def fetch(force: bool) -> Mapping[str, Any]:
        now = clock()
        if not force and "value" in cached and now - cached["at"] < max_age:
            return cast(Mapping[str, Any], cached["value"])
        try:
            text = read()
        except (ClientError, BotoCoreError):
            if "value" in cached:
                logger.warning(f"could not read {what}; using the value read before")
                cached["at"] = now - max_age + STALE_RETRY_SECONDS
                return cast(Mapping[str, Any], cached["value"])
            logger.exception(f"could not read {what}")
            raise Unavailable(retry_after=2) from None
        value = decode(text) if decode else json_object(text, what)
        cached.update(value=MappingProxyType(dict(value)), at=now)
        return cast(Mapping[str, Any], cached["value"])

    return fetch
