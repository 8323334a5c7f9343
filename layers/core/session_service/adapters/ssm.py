"""SSM Parameter Store: a plain parameter, read through Powertools' parameters cache."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from session_service.adapters.aws import aws_client
from session_service.domain.errors import Unavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider
from session_service.observability import logger


@functools.cache
def ssm_provider() -> SSMProvider:
    """Powertools' SSM provider (and its cache), on our client: its own would keep
    botocore's 60 s timeouts."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

    return SSMProvider(boto3_client=aws_client("ssm"))


def read_parameter(name: str, max_age: int = 86_400) -> str:
    """The parameter's value; an outage of SSM is the client's 503."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    try:
        value = ssm_provider().get(name, max_age=max_age)
    except parameters.exceptions.GetParameterError:
        logger.exception("could not read a parameter", parameter=name)
        raise Unavailable(retry_after=2) from None
    return str(value)
