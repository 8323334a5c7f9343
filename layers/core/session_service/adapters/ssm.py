"""SSM Parameter Store: a plain parameter (the token issuer), read once per container by
the composition root (wiring caches it), through the one client factory."""

from __future__ import annotations

import functools
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from session_service.adapters.aws import aws_client
from session_service.domain.errors import Unavailable
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
