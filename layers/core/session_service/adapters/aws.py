"""One AWS-client factory and one client configuration for every adapter: bounded
retries and timeouts, so a degraded dependency becomes the documented 503."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=3,
    tcp_keepalive=True,
)


def aws_client(service: str) -> Any:
    """A client of the service, its endpoint as botocore resolves it (AWS, or the local
    run's per-service endpoints)."""
    return boto3.client(service, config=CLIENT_CONFIG)
