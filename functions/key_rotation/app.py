"""Secrets Manager rotation of the signing-key ring: a new signer, the old one kept for
verification until every token it signed has expired."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.domain import keyring
from session_service.observability import logger

settings = get_settings()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    logger.info("rotation step", step=event["Step"])
    keyring.rotation_step(
        wiring.secrets_client(),
        step=event["Step"],
        secret_id=event["SecretId"],
        token=event["ClientRequestToken"],
        algorithm=settings.jwt_algorithm,
        previous_valid_for=keyring.retirement_delay(
            settings.access_token_ttl_seconds, settings.signing_key_cache_seconds
        ),
        now=time.time(),
    )
