"""The stack the AWS-call and e-mail benchmarks drive: moto with everything template.yaml
declares (local_run.provision), the functions loaded as Lambda loads them behind the
in-process API Gateway (tests/integration's), and a pump that delivers what Lambda and
EventBridge would deliver after a request: new stream records to the functions whose
event source mappings' filters pass them, then the events that reached the rules'
queues to their targets. A function whose Condition is false (the mailer while
`EMAIL_SENDER` is empty) is not deployed, so it is not invoked."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from moto import mock_aws

from harness.stack import FUNCTIONS, InProcessFunction, Stack
from local_run.expansion import deployed_template
from local_run.filters import passes
from local_run.functions import shared_environment
from local_run.gateway import Gateway, gateway_config
from local_run.provision import Provisioned, provision
from local_run.template import Template, load_template, parameter_overrides
from session_service import wiring

ISSUER = "https://sessions.example.test"
ACCOUNT = "123456789012"
REGION = "us-east-1"


class Invocable(Protocol):
    def invoke(self, event: dict[str, Any]) -> Any: ...


# Wraps each function of the stack: (logical id, its folder, the function) -> what runs.
Wrap = Callable[[str, str, InProcessFunction], Invocable]


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


def clients(service: str) -> Any:
    # boto3 names a newer endpoint for Streams than moto's in-process mock knows.
    endpoint = (
        "https://streams.dynamodb.us-east-1.amazonaws.com" if service == "dynamodbstreams" else None
    )
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def deployed(template: Template, logical_id: str) -> bool:
    """Whether CloudFormation would create the resource (its Condition, if any, holds)."""
    condition = template.resources[logical_id].get("Condition")
    return condition is None or template.condition(str(condition))


@dataclass
class MotoStack:
    stack: Stack
    provisioned: Provisioned
    functions: dict[str, Invocable]  # by logical id, as wrapped


@contextmanager
def moto_stack(settings: Mapping[str, str], wrap: Wrap | None = None) -> Iterator[MotoStack]:
    """The stack as deployed with these settings (contract variables, given as the
    template's parameters), RS256; its functions read the issuer from SSM, as deployed."""
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    removed = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TOKEN_ISSUER")
    with _environment(environment, removed), mock_aws():
        overrides = {"JwtAlgorithm": "RS256", **parameter_overrides(load_template(), settings)}
        template = deployed_template(overrides)
        provisioned = provision(template, clients, ISSUER)
        # As deployed: no TOKEN_ISSUER, so the functions read the issuer from SSM.
        function_env = shared_environment(template)
        function_env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        os.environ.update(function_env)
        wiring.reset()
        stack = Stack(template, provisioned, clients)
        functions: dict[str, Invocable] = {}
        for logical_id, folder in FUNCTIONS.items():
            if not deployed(template, logical_id):
                continue
            function = InProcessFunction(functools.partial(stack.function, logical_id))
            functions[logical_id] = wrap(logical_id, folder, function) if wrap else function
        stack.gateway = Gateway(gateway_config(template, functions))  # type: ignore[arg-type]
        try:
            yield MotoStack(stack, provisioned, functions)
        finally:
            wiring.reset()


class AsyncPump:
    """Delivers what Lambda and EventBridge would: new stream records to the functions
    whose mappings' filters pass them, then the events that reached the rules' queues to
    their targets; again, until nothing is left."""

    def __init__(self, moto: MotoStack) -> None:
        stack = moto.stack
        self.streams = stack.clients("dynamodbstreams")
        self.sqs = stack.clients("sqs")
        self.stream_arn = stack.template.names.attributes[("SessionTable", "StreamArn")]
        self.functions = moto.functions
        provisioned = moto.provisioned
        self.triggers = [t for t in provisioned.stream_triggers if t.function in self.functions]
        self.routes = [r for r in provisioned.rule_routes if r.function in self.functions]
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
        records = self._new_records()
        delivered = 0
        for trigger in self.triggers:
            passed = [record for record in records if passes(trigger.filters, record)]
            for start in range(0, len(passed), trigger.batch_size):
                batch = passed[start : start + trigger.batch_size]
                self.functions[trigger.function].invoke({"Records": batch})
            delivered += len(passed)
        return delivered

    def _deliver_rules(self) -> int:
        delivered = 0
        for route in self.routes:
            while True:
                answer = self.sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10)
                messages = answer.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    event = json.loads(message["Body"])
                    event.setdefault("account", ACCOUNT)
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
