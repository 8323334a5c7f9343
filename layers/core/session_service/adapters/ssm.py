"""SSM Parameter Store: a plain parameter, read through Powertools' parameters cache."""

from __future__ import annotations

from session_service.domain.errors import Unavailable
from session_service.observability import logger


def read_parameter(name: str, max_age: int = 86_400) -> str:
    """The parameter's value; an outage of SSM is the client's 503."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    try:
        value = parameters.get_parameter(name, max_age=max_age)
    except parameters.exceptions.GetParameterError:
        logger.exception("could not read a parameter", parameter=name)
        raise Unavailable(retry_after=2) from None
    return str(value)
