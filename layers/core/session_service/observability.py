"""Powertools logger and metrics, created once and imported everywhere; secrets never
reach a log line, whatever the level or the code that logs."""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import PowertoolsLogRecord

# Most requests publish no metric; Powertools would warn about each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

REDACTED = "[REDACTED]"

# What must never be logged, by shape, so that it is caught wherever it hides: in a
# message, an extra key, an exception, or a whole event someone chose to log.
_SECRETS = [
    # access tokens (any JWS), refresh tokens and device tokens
    re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
    re.compile(r"rt[123]\.[A-Za-z0-9._-]+"),
    re.compile(r"dt[12]\.[A-Za-z0-9._-]+"),
    # password hashes
    re.compile(r"\$argon2(?:id|i|d)\$[^\s\"'\\]+"),
    # Authorization header values, however the header is spelled
    re.compile(r"(?i)(?<=bearer )[^\s\"'\\,]+"),
    re.compile(r"(?i)(?<=basic )[^\s\"'\\,]+"),
]
# Secret fields of request bodies in JSON (passwords, one-time codes, the mfa_token, a
# TOTP secret and its URI, a passkey ceremony's id), plain or escaped inside a logged
# request body.
_PASSWORD_FIELD = re.compile(
    r"""(?P<key>(?:\\*["'])(?:(?:current_|new_)?password|code|mfa_token|ceremony_id|secret|otpauth_uri)"""
    r"""(?:\\*["'])\s*:\s*(?:\\*["']))"""
    r"""(?P<value>.*?)(?P<end>(?<!\\)\\*["'](?=\s*[,}\]]|\\))""",
    re.IGNORECASE,
)


# Stored secrets by the name of their attribute (as in a logged DynamoDB item or stream
# record): the value is a string, a list, or DynamoDB's {"S": ...} / {"SS": [...]}.
_SECRET_ATTRIBUTE = re.compile(
    r"""(?P<key>"(?:\w*_digests?|\w*password_hash|private_key|refresh_token_keys?|totp_secret"""
    r"""|pending_totp|recovery_codes)"\s*:\s*)"""
    r"""(?P<value>\{\s*"S{1,2}"\s*:\s*(?:"[^"]*"|\[[^\]]*\])\s*\}|"[^"]*"|\[[^\]]*\])"""
)


def redact(text: str) -> str:
    """Replace every secret in a serialized log line."""
    text = _SECRET_ATTRIBUTE.sub(lambda m: f'{m["key"]}"{REDACTED}"', text)
    text = _PASSWORD_FIELD.sub(lambda m: f"{m['key']}{REDACTED}{m['end']}", text)
    for pattern in _SECRETS:
        text = pattern.sub(REDACTED, text)
    return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with `redact` applied to every line it writes."""

    def serialize(self, log: dict[str, Any] | PowertoolsLogRecord) -> str:
        return redact(super().serialize(log))


logger = Logger(service="session-service", logger_formatter=RedactingFormatter())
metrics = Metrics(namespace="SessionService", service="session-service")

# The SDK's debug logs carry whole requests (password hashes, token digests); they stay
# silent even when Lambda's application log level is DEBUG.
for _name in ("boto3", "botocore", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.INFO)
