"""SSM Parameter Store: the token issuer (read once per container; wiring caches it) and
the published verification keys (cached like a secret), through the one client factory."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from session_service.adapters.aws import aws_client
from session_service.adapters.secrets import cached_json_fetcher
from session_service.domain.errors import Unavailable
from session_service.domain.keys.keyring import SecretFetcher
from session_service.observability import logger


@functools.cache
def ssm_client() -> Any:
    return aws_client("ssm")


def read_parameter(name: str) -> str:
    """The parameter's value; an outage of SSM is the client's 503."""
    try:
        answer = ssm_client().get_parameter(Name=name)
    except (ClientError, BotoCoreError):
        logger.exception("could not read a parameter", parameter=name)
        raise Unavailable(retry_after=2) from None
    return str(answer["Parameter"]["Value"])


def parameter_fetcher(
    name: str,
    max_age: int,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    decode: Callable[[str], Mapping[str, Any]] | None = None,
) -> SecretFetcher:
    """A JSON parameter (or what `decode` makes of its text), read at most once per
    `max_age` seconds unless forced."""

    def read() -> str:
        return str(ssm_client().get_parameter(Name=name)["Parameter"]["Value"])

    return cached_json_fetcher(read, max_age, what, clock, decode)


def write_parameter(name: str, value: str) -> None:
    # Intelligent-Tiering: standard (free) while the document fits in 4 KB, advanced past
    # that instead of failing (many rotations within one overlap).
    ssm_client().put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True, Tier="Intelligent-Tiering"
    )
