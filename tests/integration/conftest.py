"""Integration fixtures: moto with everything template.yaml declares, the functions loaded
as Lambda loads them, and API Gateway's routing in front of them (the local run's)."""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from harness.domain import CHEAP_ARGON2, DEFAULT_POLICY, THROTTLE, Services, build_services
from harness.fakes import InMemoryStore
from harness.key_pool import use_pooled_keys
from harness.memory_admin import InMemoryAdministrationStore
from harness.memory_factors import InMemorySecondFactorStore
from harness.memory_passkeys import InMemoryPasskeyStore
from harness.recording import CallRecorder
from harness.stack import (
    ISSUER,
    Stack,
)
from local_run.expansion import deployed_template
from local_run.functions import shared_environment
from local_run.provision import provision
from local_run.template import load_template, parameter_overrides
from session_service import wiring
from session_service.adapters import aws
from session_service.adapters.administration_store import DynamoAdministrationStore
from session_service.adapters.dynamo import dynamodb_client
from session_service.adapters.passkey_store import DynamoPasskeyStore
from session_service.adapters.second_factor_store import DynamoSecondFactorStore
from session_service.adapters.store import DynamoSessionStore
from session_service.adapters.throttle_store import DynamoThrottleStore
from session_service.domain.accounts.passwords import Passwords
from session_service.domain.administration.records import AdministrationStore
from session_service.domain.ports import (
    PasskeyStore,
    SecondFactorStore,
    SessionStore,
    ThrottleStore,
)
from session_service.domain.throttling.login_throttle import ThrottlePolicy
from tests.deployed_shape import missing_permissions
from tests.federation.upstream import UpstreamProvider
from tests.helpers import serialize_aws_calls
from tests.integration.aws_call_count import READS, ROUND_TRIP_SECONDS, AwsCalls
from tests.integration.email_routes import Refusals
from tests.integration.federation_flow import upstream_client

# Where DynamoDB lives in a stack: moto (in process, with everything else), or AWS's own
# DynamoDB Local (a JVM per test worker: tests/conftest.py), with moto for the other services.


@pytest.fixture(autouse=True)
def _pooled_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stacks and domains take signing keys from a pool (harness/key_pool.py)."""
    use_pooled_keys(monkeypatch)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """moto, unless a test is parametrized with `backend` (indirect)."""
    return str(getattr(request, "param", "moto"))


@pytest.fixture
def stack_with(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, backend: str
) -> Iterator[Callable[..., Stack]]:
    """Provision the backend from template.yaml and set the functions' environment;
    keyword arguments override environment variables (contract settings)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dynamodb_endpoint = None
    if backend == "dynamodb-local":
        dynamodb_endpoint = request.getfixturevalue("dynamodb_local_endpoint")
        # botocore's per-service endpoints: the functions' clients resolve them as ours do
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb_endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", raising=False)
    # argon2 at its smallest, as in the domain's tests: these tests are about what the
    # routes do, not what argon2 costs (the local run and the benchmarks keep OWASP's).
    monkeypatch.setattr(wiring, "passwords", functools.cache(lambda: Passwords(CHEAP_ARGON2)))
    # The functions' clients come from one botocore session per worker: a session of its
    # own per client loaded botocore's service models again, most of a test's setup. Each
    # client still resolves its endpoint and credentials from this test's environment.
    monkeypatch.setattr(aws, "botocore", SimpleNamespace(session=_one_botocore_session))
    # Every AWS call a function makes must be allowed by its role as deployed
    recorder = CallRecorder()
    monkeypatch.setattr(BaseClient, "_make_api_call", recorder.wrap(BaseClient._make_api_call))
    if backend == "moto":
        # A request sends some of its calls at once (domain/concurrency.py)
        serialize_aws_calls(monkeypatch)
    with mock_aws():
        stacks: list[Stack] = []

        def make(**settings: str) -> Stack:
            overrides = parameter_overrides(load_template(), settings)
            template = deployed_template(overrides)

            def clients(service: str) -> Any:
                # boto3 names a newer endpoint for Streams than moto's in-process mock knows.
                endpoint = (
                    "https://streams.dynamodb.us-east-1.amazonaws.com"
                    if service == "dynamodbstreams" and dynamodb_endpoint is None
                    else None
                )
                return _client(service, endpoint, dynamodb_endpoint)

            provisioned = provision(template, clients, ISSUER)
            environment = shared_environment(template)
            environment.update(
                {"TOKEN_ISSUER": ISSUER, "POWERTOOLS_LOG_LEVEL": "DEBUG", **settings}
            )
            for key, value in environment.items():
                monkeypatch.setenv(key, value)
            wiring.reset()
            stack = Stack(template, provisioned, clients, calls=recorder)
            stacks.append(stack)
            return stack

        yield make
        wiring.reset()
        if stacks:
            missing = missing_permissions(recorder.calls, stacks[0].template)
            assert missing == [], f"the deployed roles would refuse: {missing}"
        if dynamodb_endpoint is not None:
            # DynamoDB Local outlives the test: the next one starts from no table
            client = boto3.client("dynamodb", region_name="us-east-1")
            for table in client.list_tables()["TableNames"]:
                client.delete_table(TableName=table)


@functools.cache
def _client(service: str, endpoint: str | None, _dynamodb_endpoint: str | None) -> Any:
    """A client per service and DynamoDB endpoint (which boto3 reads from the environment
    when it makes one), for the worker's life: making one costs more than a test's calls.
    moto answers a client whenever a mock is on, whenever the client was made."""
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


class _one_botocore_session:  # noqa: N801 (stands in for the botocore.session module)
    @staticmethod
    @functools.cache
    def get_session() -> botocore.session.Session:
        return botocore.session.get_session()


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    return stack_with()


@pytest.fixture(autouse=True)
def _no_stray_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("function_"):
            del sys.modules[name]


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    counter = AwsCalls()
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation: str, params: Any) -> Any:
        service = client.meta.service_model.service_name
        started = time.perf_counter()
        if counter.latency:
            time.sleep(ROUND_TRIP_SECONDS)  # the network's part of a round trip
        try:
            response = original(client, operation, params)
        finally:  # (a call whose condition failed is a call too)
            with counter.lock:
                counter.spans.append((started, time.perf_counter()))
                counter.calls[f"{service}.{operation}"] += 1
        if service == "dynamodb" and operation in READS:
            with counter.lock:
                counter.record_read(operation, response)
        return response

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return counter


# -- the domain over a backend's stores --------------------------------------------------


Stores = tuple[SessionStore, ThrottleStore, SecondFactorStore, AdministrationStore, PasskeyStore]


@pytest.fixture
def stores(request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch) -> Stores:
    if backend == "memory":
        store = InMemoryStore()
        return (
            store,
            store,
            InMemorySecondFactorStore(store),
            InMemoryAdministrationStore(store),
            InMemoryPasskeyStore(store),
        )
    stack: Stack = request.getfixturevalue("stack")
    if backend == "moto":
        serialize_aws_calls(monkeypatch)
    client = dynamodb_client()
    return (
        DynamoSessionStore(client, stack.table),
        DynamoThrottleStore(client, stack.table),
        DynamoSecondFactorStore(client, stack.table),
        DynamoAdministrationStore(client, stack.table),
        DynamoPasskeyStore(client, stack.table),
    )


@pytest.fixture
def services_with(stores: Stores) -> Callable[..., Services]:
    """The services over this backend's stores, with the policy's fields changed."""

    def make(throttle: ThrottlePolicy = THROTTLE, **changes: Any) -> Services:
        policy = dataclasses.replace(DEFAULT_POLICY, **changes)
        return build_services(*stores, policy, throttle=throttle)

    return make


@pytest.fixture
def store(stores: Stores) -> SessionStore:
    return stores[0]


@pytest.fixture
def passkey_store(stores: Stores) -> PasskeyStore:
    return stores[4]


@pytest.fixture
def factor_store(stores: Stores) -> SecondFactorStore:
    return stores[2]


@pytest.fixture
def sweep_mail_stack(stack_with: Callable[..., Stack]) -> Stack:
    """A stack with e-mail on whose sender SES knows, mailing without a client's limit:
    the e-mail sweeps send every run of a route from one client address."""
    from tests.mail_helpers import EMAIL_ON, verify_sender  # noqa: PLC0415

    stack = stack_with(**EMAIL_ON, EMAILS_PER_IP="1000")
    verify_sender(stack)
    return stack


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> Iterator[Refusals]:
    """DynamoDB calls refused beyond botocore's retries, once started (email_routes)."""
    refusals = Refusals()
    monkeypatch.setattr(BaseClient, "_make_api_call", refusals.wrap(BaseClient._make_api_call))
    yield refusals
    refusals.start()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProvider]:
    """A real upstream OpenID Connect provider (Node's oidc-provider) with the service as
    its client, for a module's federation tests (tests/integration/federation_flow.py)."""
    with UpstreamProvider().start([upstream_client()]) as provider:
        yield provider
