"""One AWS-client factory and one client configuration for every adapter, Powertools'
parameters included: bounded retries and timeouts, so that a degraded dependency becomes
the documented 503 well within the function's Timeout, never a Lambda timeout
(tests/unit/test_time_budgets.py checks the arithmetic against the template)."""

from __future__ import annotations

import functools
import os
from typing import Any

import botocore.session
from botocore.config import Config

# Two attempts in all (botocore's "max_attempts" counts retries only) of at most 1 s to
# connect and 2 s to read, and one back-off between them (at most 1 s, a throttling one):
# 7 s at worst for a call, under the API's 10 s Timeout.
TOTAL_ATTEMPTS = 2
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
    connect_timeout=1,
    read_timeout=2,
    tcp_keepalive=True,
)


def worst_case_seconds(config: Config = CLIENT_CONFIG) -> float:
    """The longest one call can take: every attempt timing out, with botocore's standard
    back-off between attempts at its throttling scale (1 s, doubling)."""
    attempts = int(config.retries["total_max_attempts"])
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    back_off = sum(min(2**retry, 20) for retry in range(attempts - 1))
    return float(attempts * per_attempt + back_off)


def aws_client(service: str) -> Any:
    """A client of the service, its endpoint as botocore resolves it (AWS, or the local
    run's per-service endpoints). From botocore directly: boto3 and s3transfer would add
    a third to the authorizer's cold start and give it nothing it uses."""
    if os.environ.get("TRACING_MODE") == "Active":
        trace_aws_calls()
    return botocore.session.get_session().create_client(service, config=CLIENT_CONFIG)


@functools.cache
def trace_aws_calls() -> None:
    """With TracingMode=Active, every AWS call shows in the function's trace as a
    subsegment (the X-Ray SDK patches botocore). Imported only then: a cold start with
    tracing off, the default, never loads the SDK."""
    from aws_xray_sdk.core import patch  # noqa: PLC0415

    patch(("botocore",))
