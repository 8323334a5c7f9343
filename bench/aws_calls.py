"""AWS calls per operation, counted at botocore's edge against moto.

Moto gets everything template.yaml declares (local_run.provision), the functions are
loaded as Lambda loads them and API Gateway's routing and authorizer run in front of them
(the in-process gateway of tests/integration). Every botocore call made while one of the
functions runs is counted and attributed to that function; the bench's own calls (reading
the table's stream, draining the queues that stand in for EventBridge targets) are not.

For each operation there are three counts:
- warm: the request path (authorizer and API function), containers already warm;
- asynchronous: what the request sets off afterwards, the table's stream into the event
  publisher and the events it puts on the bus into their consumers;
- cold: the request path when every function it reaches starts with empty caches.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient
from moto import mock_aws

from harness.stack import FUNCTIONS, InProcessFunction, Stack
from local_run.expansion import deployed_template
from local_run.functions import shared_environment
from local_run.gateway import Gateway, gateway_config
from local_run.provision import Provisioned, provision
from session_service import wiring

ISSUER = "https://sessions.example.test"
USERNAME = "ada"
PASSWORDS = ("correct horse battery", "a brand new passphrase")
REPETITIONS = 3
# Services whose calls the report has a column for; any other service is still counted.
SERVICES = {
    "dynamodb": "DynamoDB",
    "secretsmanager": "Secrets Manager",
    "ssm": "SSM",
    "kms": "KMS",
    "events": "EventBridge",
}
STREAM_FILTER_KINDS = ("session", "user")  # the publisher's FilterCriteria in template.yaml


@dataclass(frozen=True, order=True)
class Call:
    function: str  # the function folder: api, authorizer, event_publisher, ...
    service: str
    operation: str

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


Calls = Counter[Call]


class CallLog:
    """Counts botocore API calls made while a function of the stack is running."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: Calls = Counter()

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = BaseClient._make_api_call
        log = self

        def counting(client: BaseClient, operation: str, params: Any) -> Any:
            if log.function is not None:
                service = client.meta.service_model.service_name
                log.calls[Call(log.function, service, operation)] += 1
            return original(client, operation, params)

        BaseClient._make_api_call = counting
        try:
            yield
        finally:
            BaseClient._make_api_call = original

    def take(self) -> Calls:
        taken, self.calls = self.calls, Counter()
        return taken


@dataclass
class Containers:
    """Whether each invocation gets a new container (empty caches) or a warm one."""

    cold: bool = False


class CountedFunction(InProcessFunction):
    """A function whose AWS calls are attributed to it."""

    def __init__(self, module: Any, name: str, log: CallLog, containers: Containers) -> None:
        super().__init__(lambda: module)
        self.name = name
        self.log = log
        self.containers = containers

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.containers.cold:
            wiring.reset()  # in process, the functions' caches are session_service.wiring's
        self.log.function = self.name
        try:
            return super().invoke(event)
        finally:
            self.log.function = None


@dataclass
class UserState:
    password_index: int = 0
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def password(self) -> str:
        return PASSWORDS[self.password_index]

    @property
    def other_password(self) -> str:
        return PASSWORDS[1 - self.password_index]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    body: Callable[[UserState], dict[str, str]] | None = None
    bearer: bool = False  # sends the current access token

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


OPERATIONS = (
    Operation(
        "login",
        "POST",
        "/auth/login",
        body=lambda s: {"username": USERNAME, "password": s.password},
    ),
    Operation(
        "refresh",
        "POST",
        "/auth/refresh",
        body=lambda s: {"refresh_token": s.tokens["refresh_token"]},
    ),
    Operation("authorized request", "GET", "/auth/session", bearer=True),
    Operation("list sessions", "GET", "/auth/sessions", bearer=True),
    Operation("JWKS", "GET", "/.well-known/jwks.json"),
    Operation("discovery", "GET", "/.well-known/openid-configuration"),
    Operation(
        "password change",
        "POST",
        "/auth/password",
        body=lambda s: {"current_password": s.password, "new_password": s.other_password},
        bearer=True,
    ),
    Operation("logout", "POST", "/auth/logout", bearer=True),
)


@dataclass
class OperationCalls:
    name: str
    route: str
    warm: list[Calls] = field(default_factory=list)
    asynchronous: list[Calls] = field(default_factory=list)
    cold: Calls = field(default_factory=Counter)


@contextmanager
def _environment(values: Mapping[str, str], remove: tuple[str, ...]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _clients(service: str) -> Any:
    # boto3 names a newer endpoint for Streams than moto's in-process mock knows.
    endpoint = (
        "https://streams.dynamodb.us-east-1.amazonaws.com" if service == "dynamodbstreams" else None
    )
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


class AsyncPump:
    """Delivers what Lambda and EventBridge would: new stream records to the publisher,
    then the events that reached the rules' queues to their consumers."""

    def __init__(
        self, stack: Stack, provisioned: Provisioned, functions: dict[str, CountedFunction]
    ) -> None:
        self.streams = stack.clients("dynamodbstreams")
        self.sqs = stack.clients("sqs")
        self.stream_arn = stack.template.names.attributes[("SessionTable", "StreamArn")]
        self.provisioned = provisioned
        self.functions = functions
        self.seen: set[str] = set()

    def _new_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in shards["Shards"]:
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                records.extend(r for r in page["Records"] if r["eventID"] not in self.seen)
                iterator = page.get("NextShardIterator")
        self.seen.update(record["eventID"] for record in records)
        safe: list[dict[str, Any]] = json.loads(
            json.dumps(records, default=lambda value: value.timestamp())
        )
        return [{**record, "eventSourceARN": self.stream_arn} for record in safe]

    def _deliver_stream(self) -> int:
        records = [
            record
            for record in self._new_records()
            if record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S")
            in STREAM_FILTER_KINDS
        ]
        for trigger in self.provisioned.stream_triggers:
            for start in range(0, len(records), trigger.batch_size):
                batch = records[start : start + trigger.batch_size]
                self.functions[trigger.function].invoke({"Records": batch})
        return len(records)

    def _deliver_rules(self) -> int:
        delivered = 0
        for route in self.provisioned.rule_routes:
            while True:
                answer = self.sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10)
                messages = answer.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    event = json.loads(message["Body"])
                    event.setdefault("account", "123456789012")
                    self.functions[route.function].invoke(event)
                    self.sqs.delete_message(
                        QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    delivered += 1
        return delivered

    def drain(self) -> None:
        for _ in range(5):
            if self._deliver_stream() + self._deliver_rules() == 0:
                return


def _perform(stack: Stack, state: UserState, operation: Operation) -> None:
    body = operation.body(state) if operation.body else None
    headers = (
        {"authorization": f"Bearer {state.tokens['access_token']}"} if operation.bearer else None
    )
    answer = stack.http(operation.method, operation.path, body, headers=headers)
    if answer.status >= 300:
        raise RuntimeError(f"{operation.name}: {answer.status} {answer.json()}")
    answer_body = answer.json()
    if isinstance(answer_body, dict) and "access_token" in answer_body:
        state.tokens = answer_body
    if operation.name == "password change":
        state.password_index = 1 - state.password_index


def run() -> list[OperationCalls]:
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    removed = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TOKEN_ISSUER")
    results = [OperationCalls(op.name, op.route) for op in OPERATIONS]
    log = CallLog()
    containers = Containers()
    with _environment(environment, removed), mock_aws():
        template = deployed_template({"JwtAlgorithm": "RS256"})
        provisioned = provision(template, _clients, ISSUER)
        # As deployed: no TOKEN_ISSUER, so the functions read the issuer from SSM.
        function_env = shared_environment(template)
        function_env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        os.environ.update(function_env)
        wiring.reset()
        stack = Stack(template, provisioned, _clients)
        functions = {
            logical_id: CountedFunction(stack.function(logical_id), folder, log, containers)
            for logical_id, folder in FUNCTIONS.items()
        }
        stack.gateway = Gateway(gateway_config(template, functions))  # type: ignore[arg-type]
        pump = AsyncPump(stack, provisioned, functions)
        state = UserState()
        with log.installed():
            stack.http("POST", "/auth/register", {"username": USERNAME, "password": PASSWORDS[0]})
            for cycle in range(1 + REPETITIONS):
                for operation, result in zip(OPERATIONS, results, strict=True):
                    _perform(stack, state, operation)
                    warm = log.take()
                    pump.drain()
                    asynchronous = log.take()
                    if cycle > 0:  # the first cycle warms every container
                        result.warm.append(warm)
                        result.asynchronous.append(asynchronous)
            containers.cold = True
            for operation, result in zip(OPERATIONS, results, strict=True):
                _perform(stack, state, operation)
                result.cold = log.take()
            containers.cold = False
        wiring.reset()
    return results


def by_service(calls: Calls) -> dict[str, int]:
    services: Counter[str] = Counter()
    for call, count in calls.items():
        services[call.service] += count
    return dict(services)


def steady(samples: list[Calls]) -> bool:
    """Whether every repetition made the same calls."""
    return all(sample == samples[0] for sample in samples)
