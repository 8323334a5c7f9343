"""Secrets Manager: the signing-key and second-factor secrets, read through Powertools'
parameters cache."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

from session_service.adapters.aws import aws_client
from session_service.domain.errors import Unavailable
from session_service.domain.keyring import KeyRingError, SecretFetcher
from session_service.observability import logger


@functools.cache
def secrets_provider() -> SecretsProvider:
    """Powertools' Secrets Manager provider (and its cache), on our client: its own would
    keep botocore's 60 s timeouts."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415

    return SecretsProvider(boto3_client=aws_client("secretsmanager"))


def secrets_manager_fetcher(
    secret_id: str, max_age: int, what: str = "the signing-key secret"
) -> SecretFetcher:
    """Fetch a JSON secret through Powertools parameters, which caches it."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    def fetch(force: bool) -> Mapping[str, Any]:
        try:
            # The stage is Secrets Manager's default; naming it also makes moto follow
            # a rotation (its default version does not move with the stage).
            value = secrets_provider().get(
                secret_id,
                transform="json",
                max_age=max_age,
                force_fetch=force,
                VersionStage="AWSCURRENT",
            )
        except parameters.exceptions.GetParameterError:
            logger.exception(f"could not read {what}")
            raise Unavailable(retry_after=2) from None
        if not isinstance(value, Mapping):
            raise KeyRingError(f"{what} is not a JSON object")
        return value

    return fetch
