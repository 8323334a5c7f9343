"""A local run (or the deployed API) as the end-to-end tests drive it: the service's URL
and output, the settings their runs share, and a listener on the service's event bus."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests

from local_run import launcher
from tests.helpers import PASSWORD

DEPLOYED_URL = os.environ.get("API_URL", "").rstrip("/")
# Every request of the suite comes from 127.0.0.1, which would make the per-IP throttle
# (LOGIN_FAILURES_PER_IP) one counter for the whole suite, filled by the fuzzer's wrong
# logins. Tests of that limit set it themselves; the unit and integration suites cover it.
# The DynamoDB behind a local run: moto's, as `make run` has it, unless LOCAL_DYNAMODB says
# otherwise (`LOCAL_DYNAMODB=dynamodb-local make e2e` runs the whole suite on AWS's own).
BACKENDS = ("moto", "dynamodb-local")
PASSKEY_ORIGIN = "https://app.example.test"
LOCAL_DEFAULTS = {
    "LOGIN_FAILURES_PER_IP": "100000",
    # The same for registrations (REGISTRATIONS_PER_IP): the suite registers hundreds.
    "REGISTRATIONS_PER_IP": "100000",
    # A second exchange of a refresh token is reuse at once (the default's window of 10 s
    # for a client whose answer was lost is tested in tests/integration/test_lost_answers.py);
    # the tests that say so explicitly share this run.
    "REFRESH_REUSE_GRACE_SECONDS": "0",
    # Passkeys on (their relying party is this origin's host), for the fuzzing among others.
    "ALLOWED_ORIGINS": PASSKEY_ORIGIN,
    "LOCAL_DYNAMODB": os.environ.get("LOCAL_DYNAMODB") or "moto",
}
# A run for bursts of one user's logins: every right password holds a throttle place
# while it is checked, so a burst of 12 needs 12 places (LOGIN_FAILURES_PER_USERNAME).
BURSTS = {
    "MAX_SESSIONS_PER_USER": "3",
    "REFRESH_REUSE_GRACE_SECONDS": "2",
    "LOGIN_FAILURES_PER_USERNAME": "12",
}


@dataclass
class Service:
    """One running service and a client for it."""

    base_url: str
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    # Its data's, on a DynamoDB Local that serves several runs (a database per key)
    access_key: str = "local"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(path), json=body, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url(path), timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.delete(self.url(path), timeout=30, **kwargs)

    def new_user(self) -> str:
        """A registered user with a name no other test uses (deployed stacks persist)."""
        username = f"e2e-{uuid.uuid4().hex[:16]}"
        answer = self.post("/auth/register", {"username": username, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        return username

    def login(self, username: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.post("/auth/login", {"username": username, "password": PASSWORD}, **kwargs)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def logs(self) -> str:
        return "".join(self.output)

    def aws_endpoint(self, service: str) -> str:
        """The local run's endpoint for this AWS service: the embedded emulator, or for
        DynamoDB and its streams the endpoint that serves them."""
        match = re.search(r"AWS endpoint (\S+); DynamoDB (\S+)\)", self.logs())
        assert match, "not a local run"
        return match.group(2) if service.startswith("dynamodb") else match.group(1)

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint(service),
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key="local",
        )


class BusListener:
    """A rule on the service's bus that copies one user's events to a queue."""

    def __init__(self, service: Service, user_ids: list[str]) -> None:
        self.sqs = service.aws("sqs")
        self.events = service.aws("events")
        (self.bus,) = [
            bus["Name"]
            for bus in self.events.list_event_buses()["EventBuses"]
            if bus["Name"] != "default"
        ]
        self.rule = f"listener-{uuid.uuid4().hex[:8]}"
        self.queue = self.sqs.create_queue(QueueName=self.rule)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.events.put_rule(
            Name=self.rule,
            EventBusName=self.bus,
            EventPattern=json.dumps({"detail": {"user_id": user_ids}}),
        )
        self.events.put_targets(
            Rule=self.rule,
            EventBusName=self.bus,
            Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
        )
        self.received: list[dict[str, Any]] = []

    def until(self, enough: Counter[tuple[str, str]], timeout: float = 30) -> Counter[Any]:
        """Poll until the (detail-type, reason) counts reach `enough` or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not enough <= self.counts():
            answer = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            for message in answer.get("Messages", []):
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
            if not answer.get("Messages"):
                time.sleep(0.2)  # short polls: a long poll would hold the emulator's lock
        return self.counts()

    def counts(self) -> Counter[tuple[str, str]]:
        """Distinct events by (detail-type, reason): delivery is at least once, and a
        consumer drops a repeat by its event_id (a retried stream record sends it again)."""
        distinct = {event["detail"]["event_id"]: event for event in self.received}
        return Counter(
            (event["detail-type"], event["detail"].get("reason", "")) for event in distinct.values()
        )

    def close(self) -> None:
        self.events.remove_targets(Rule=self.rule, EventBusName=self.bus, Ids=["queue"])
        self.events.delete_rule(Name=self.rule, EventBusName=self.bus)
        self.sqs.delete_queue(QueueUrl=self.queue)


def start_local_run(settings: dict[str, str]) -> Service:
    """A local run with these settings; a PORT among them is kept (a setting such as
    ALLOWED_ORIGINS may need to name the local run's own origin before it starts)."""
    run = launcher.start(settings)
    access_key = settings.get("AWS_ACCESS_KEY_ID", "local")
    return Service(run.base_url, run.output, run.process, access_key)


def stop(service: Service) -> None:
    if service.process is not None:
        launcher.LocalRun(service.base_url, service.process).stop()


def pause(service: Service, paused: bool) -> None:
    """Stop (SIGSTOP) or continue (SIGCONT) a local run and every process it started: an
    idle run's stream, rule and TTL pollers cost its emulator a dozen calls a second, which
    the runs kept for later tests would spend on this machine's two cores all session."""
    if service.process is None:
        return
    tree = [service.process.pid, *descendants(service.process.pid)]
    for pid in tree if paused else reversed(tree):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)


def descendants(pid: int) -> list[int]:
    """A process's children, theirs (a fork server's environments) and so on: children
    before their own children (the order to stop them in)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found
