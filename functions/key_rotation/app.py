"""Secrets Manager rotation of the key ring: a new signing key and refresh-token MAC key,
published (the public keys, signed with the document key, in their parameter) before they
are used, the old ones kept until nothing they made is still valid."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.adapters.kms import kms_client, kms_signer
from session_service.adapters.secret_rotation import rotation_step
from session_service.adapters.ssm import write_parameter
from session_service.config import get_settings
from session_service.domain.keys.key_documents import signed_document
from session_service.domain.keys.key_rotation import rotation_times
from session_service.observability import logger

settings = get_settings()


def publish(document: Mapping[str, Any]) -> None:
    signed = signed_document(
        document,
        kms_signer(kms_client(), settings.verification_keys_signing_key),
        settings.verification_keys_signing_key,
        issued_at=time.time(),
    )
    write_parameter(settings.verification_keys_parameter, signed)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    logger.info("rotation step", step=event["Step"])
    rotation_step(
        wiring.secrets_client(),
        step=event["Step"],
        secret_id=event["SecretId"],
        token=event["ClientRequestToken"],
        algorithm=settings.jwt_algorithm,
        times=rotation_times(
            settings.access_token_ttl_seconds,
            settings.signing_key_cache_seconds,
            settings.session_absolute_timeout_seconds,
        ),
        publish=publish,
        now=time.time(),
    )
