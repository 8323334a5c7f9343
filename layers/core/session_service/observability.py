"""Powertools logger and metrics, created once and imported everywhere."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

# Most requests publish no metric; Powertools would warn about each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service="session-service")
metrics = Metrics(namespace="SessionService", service="session-service")
