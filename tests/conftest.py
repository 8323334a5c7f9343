"""Fixtures of every suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_run import dynamodb_local


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """One DynamoDB Local per test worker, started on first use, shared by the integration
    tests (one access key, their tables deleted after each test) and the local runs of the
    end-to-end tests (an access key each): a database per access key keeps them apart, and
    one JVM warmed up serves them all faster than a cold JVM per run."""
    server = dynamodb_local.start(shared_db=False)
    yield server.endpoint
    server.stop()
