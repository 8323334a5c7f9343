"""Powertools logger and metrics, created once and imported everywhere; secrets never
reach a log line, whatever the level or the code that logs."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import warnings
from datetime import UTC, datetime
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import PowertoolsLogRecord
from aws_lambda_powertools.metrics.functions import (
    is_metrics_disabled,
    resolve_cold_start_function_name,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.types import CloudWatchEMFOutput
from aws_lambda_powertools.utilities.typing import LambdaContext

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


# Lambda's application log levels, least severe first (its filter's names).
LAMBDA_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def metric_line_level(lambda_log_level: str | None) -> str:
    """The level a metric line carries: INFO, or the function's application log level
    (AWS_LAMBDA_LOG_LEVEL) when that is higher. Lambda drops a JSON line below that level
    and reads a line without a level (or a valid timestamp) as INFO, so a metric line
    without them vanishes at WARN or ERROR, and its alarm with it."""
    configured = (lambda_log_level or "").upper()
    if configured not in LAMBDA_LOG_LEVELS:
        return "INFO"
    return max("INFO", configured, key=LAMBDA_LOG_LEVELS.index)


class LeveledEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF lines, each with the `level` and RFC 3339 `timestamp` that let
    Lambda's log filter keep it at every application log level."""

    def serialize_metric_set(
        self,
        metrics: dict[str, Any] | None = None,
        dimensions: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CloudWatchEMFOutput:
        output = super().serialize_metric_set(metrics, dimensions, metadata)
        milliseconds = output["_aws"]["Timestamp"]
        line: dict[str, Any] = {
            **output,
            # After the rest: no dimension or metadata of that name can take their place.
            "level": metric_line_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL")),
            "timestamp": datetime.fromtimestamp(milliseconds / 1000, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        return cast(CloudWatchEMFOutput, line)

    def add_cold_start_metric(self, context: LambdaContext) -> None:
        # Powertools writes ColdStart through a metric set of its own, which has no level.
        name = resolve_cold_start_function_name(function_name=self.function_name, context=context)
        write_single_metric("ColdStart", 1, {"function_name": name})


# The service (a dimension of every metric, a field of every log line) is the stack's
# name where deployed (POWERTOOLS_SERVICE_NAME), so that two stacks never mix.
SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "session-service"
# RFC 3339 timestamps: Lambda's log filter reads a line's level only beside a valid one
# (else it takes the line for INFO, and drops a warning at LogLevel WARNING).
logger = Logger(
    service=SERVICE_NAME, logger_formatter=RedactingFormatter(use_rfc3339=True, utc=True)
)
metrics = Metrics(
    provider=LeveledEMFProvider(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SessionService",
        service=SERVICE_NAME,
    )
)

# The SDK's debug logs carry whole requests (password hashes, token digests); they stay
# silent even when Lambda's application log level is DEBUG.
for _name in ("boto3", "botocore", "urllib3", "s3transfer"):
    logging.getLogger(_name).setLevel(logging.INFO)


_LINES = threading.Lock()


def write_single_metric(name: str, value: float, dimensions: dict[str, str]) -> None:
    """One metric on a line of its own, with dimensions of its own besides the service
    (Powertools' own single-metric lines have no level: Lambda drops them above INFO)."""
    line = LeveledEMFProvider(namespace=metrics.namespace, service=SERVICE_NAME)
    for key, dimension in dimensions.items():
        line.add_dimension(name=key, value=dimension)
    line.add_metric(name=name, unit="Count", value=value)
    if is_metrics_disabled():
        return
    # One write of the whole line (Powertools' print makes two): a line written from a
    # pooled thread meanwhile (domain/concurrency.py) cannot land inside it.
    document = json.dumps(line.serialize_metric_set(), separators=(",", ":"))
    with _LINES:
        sys.stdout.write(document + "\n")
