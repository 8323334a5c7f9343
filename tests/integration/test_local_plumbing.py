"""The local run's stand-ins for AWS's own plumbing, on moto (and DynamoDB Local where it
applies): transactions that leave the stream readable, the stream pump (every change
delivered, failures bisected and parked in the OnFailure queue, a stalled reader
noticed), the rule pump's OnFailure queue, and the pumps' pace."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends

from harness.stack import ISSUER, Stack
from local_run import pumps, ttl
from local_run.expansion import deployed_template
from local_run.functions import InvocationError
from local_run.provision import provision
from session_service.adapters.store import dynamo_store
from session_service.domain.models import Session
from session_service.domain.ports import NewSession, StaleWrite
from tests.helpers import login, password_changed, register
from tests.integration.backends import BACKENDS


class RecordingFunction:
    """Stands in for a function's pool: records each event, fails where told to."""

    def __init__(self, fails_on: Callable[[dict[str, Any]], bool] = lambda _: False) -> None:
        self.name = "RecordingFunction"
        self.events: list[dict[str, Any]] = []
        self.fails_on = fails_on
        # For each invocation: whether it was queued (asynchronous), as Lambda runs events.
        self.queued: list[bool] = []

    def invoke(self, event: dict[str, Any], queued: bool = False) -> Any:
        self.queued.append(queued)
        if self.fails_on(event):
            raise InvocationError("Boom", "the function failed")
        self.events.append(event)
        return {}

    @property
    def sequence_numbers(self) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for e in self.events for r in e["Records"]]


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pumps, "RETRY_DELAY", 0)


def stream_pump(stack: Stack, function: RecordingFunction, **changes: Any) -> pumps.StreamPump:
    (trigger,) = [t for t in stack.provisioned.stream_triggers if "Publisher" in t.function]
    trigger = dataclasses.replace(trigger, **changes)
    return pumps.StreamPump(
        trigger,
        function,  # type: ignore[arg-type]
        stack.clients("dynamodbstreams"),
        threading.Event(),
        stack.clients("sqs"),
    )


def drain(pump: pumps.StreamPump) -> None:
    while pump.poll():
        pass


def dead_letters(stack: Stack, queue: str) -> list[dict[str, Any]]:
    url = stack.template.names.refs[queue]
    answer = stack.clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def cancel_a_transaction(stack: Stack, user_id: str) -> None:
    """A login that lost the race for the user's version: DynamoDB cancels it."""
    store = dynamo_store(stack.table)
    session = Session(
        user_id=user_id,
        session_id="00000000-0000-4000-8000-000000000001",
        created_at=1,
        last_used_at=1,
        idle_expires_at=2,
        absolute_expires_at=2,
        ip="198.51.100.1",
        user_agent="pytest",
    )
    with pytest.raises(StaleWrite):
        store.start_session(NewSession(session=session, expected_version=999))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_stream_reader_sees_every_change_after_a_cancelled_transaction(stack: Stack) -> None:
    # Given a stream reader that has read the registration
    user_id = register(stack)
    function = RecordingFunction()
    pump = stream_pump(stack, function)
    drain(pump)
    seen = len(function.sequence_numbers)
    # When a transaction is cancelled, and then the user logs in three times
    cancel_a_transaction(stack, user_id)
    for _ in range(3):
        login(stack)
    drain(pump)
    # Then the reader saw each login's new session, each change once, in order
    new = [r for e in function.events for r in e["Records"]][seen:]
    inserted = [r for r in new if r["dynamodb"]["Keys"]["sk"]["S"].startswith("SESSION#")]
    assert len(inserted) == 3
    numbers = [r["dynamodb"]["SequenceNumber"] for r in new]
    assert numbers == sorted(set(numbers), key=int)


def test_a_stream_reader_whose_iterator_expired_reads_on(stack: Stack) -> None:
    # Given a stream reader that has read the registration
    register(stack)
    drain(pump := stream_pump(stack, function := RecordingFunction()))
    seen = len(function.sequence_numbers)
    # When its iterator expires (15 minutes: a paused local run's) and a login follows
    pump.client = IteratorExpiringOnce(pump.client)
    login(stack)
    assert pump.poll() == 0
    drain(pump)
    # Then it reads on with a fresh iterator: the login's changes, each once
    new = [r for e in function.events for r in e["Records"]][seen:]
    assert len([r for r in new if r["dynamodb"]["Keys"]["sk"]["S"].startswith("SESSION#")]) == 1
    numbers = [r["dynamodb"]["SequenceNumber"] for r in new]
    assert numbers == sorted(set(numbers), key=int)


class IteratorExpiringOnce:
    """A streams client whose next GetRecords finds the iterator expired."""

    def __init__(self, client: Any) -> None:
        self._client, self._expired = client, False

    def get_records(self, **request: Any) -> Any:
        if self._expired:
            return self._client.get_records(**request)
        self._expired = True
        raise ClientError({"Error": {"Code": "ExpiredIteratorException"}}, "GetRecords")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_cancelled_transaction_leaves_the_table_and_its_stream_as_they_were(
    stack: Stack,
) -> None:
    user_id = register(stack)
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    table = backend.tables[stack.table]
    shard = table.stream_shard
    assert shard is not None
    records_before = len(shard.items)
    items_before = stack.items()
    cancel_a_transaction(stack, user_id)
    assert backend.tables[stack.table] is table
    assert table.stream_shard is shard
    assert len(shard.items) == records_before
    assert stack.items() == items_before


def test_a_failing_record_is_bisected_out_and_its_coordinates_parked(stack: Stack) -> None:
    # Given a publisher that fails on any batch holding the second login's session
    register(stack)
    first = login(stack)
    poison = login(stack)["session_id"]
    third = login(stack)

    def holds_poison(event: dict[str, Any]) -> bool:
        return poison in json.dumps(event)

    function = RecordingFunction(fails_on=holds_poison)
    # When the pump delivers the whole stream in one batch
    drain(stream_pump(stack, function))
    # Then every other record was delivered, the first and third sessions included
    delivered = json.dumps(function.events)
    assert first["session_id"] in delivered
    assert third["session_id"] in delivered
    assert poison not in delivered
    # And the coordinates of the one record that fails went to the OnFailure queue
    (parked,) = dead_letters(stack, "PublisherDeadLetterQueue")
    info = parked["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"


class ReportingFunction(RecordingFunction):
    """Names the records holding `poison` as failed (ReportBatchItemFailures)."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    def invoke(self, event: dict[str, Any], queued: bool = False) -> Any:
        super().invoke(event, queued)
        failed = [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in event["Records"]
            if self.poison in json.dumps(r)
        ]
        return {"batchItemFailures": failed}


def test_a_batch_whose_function_names_a_failed_record_is_retried_from_it_only(
    stack: Stack,
) -> None:
    # Given a publisher that reports (not raises) the record of the second login as failed
    register(stack)
    first = login(stack)
    poison = login(stack)["session_id"]
    third = login(stack)
    function = ReportingFunction(poison)
    # When the pump delivers the stream with the mapping's ReportBatchItemFailures
    drain(stream_pump(stack, function, reports_item_failures=True))
    # Then the first record went once (retries start at the failed one), the third got
    # through once the failed one was bisected out, and only its coordinates were parked
    deliveries = [json.dumps(event) for event in function.events]
    assert sum(first["session_id"] in d for d in deliveries) == 1
    assert any(third["session_id"] in d and poison not in d for d in deliveries)
    (parked,) = dead_letters(stack, "PublisherDeadLetterQueue")
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 1


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (10, 3), (-1, 3)])
def test_a_failing_batch_is_tried_as_often_as_the_mapping_says_within_the_local_cap(
    stack: Stack, retries: int, attempts: int
) -> None:
    # Given a publisher that always fails, and a mapping with this MaximumRetryAttempts
    register(stack)
    login(stack)
    function = RecordingFunction(fails_on=lambda _: True)
    # When the pump delivers the login's record (the one record the filters pass)
    drain(stream_pump(stack, function, maximum_retry_attempts=retries, bisect_on_error=False))
    # Then it was tried 1 + retries times (at most the local cap), and then parked
    assert len(function.queued) == attempts
    (parked,) = dead_letters(stack, "PublisherDeadLetterQueue")
    assert parked["requestContext"]["approximateInvokeCount"] == attempts


def test_a_stream_reader_whose_iterator_went_stale_says_so_and_catches_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a reader that has read everything, and then a table whose stream shard was
    # replaced under it (what moto's transaction rollback did)
    monkeypatch.setattr(pumps, "STALL_CHECK_INTERVAL", 0)
    register(stack)
    function = RecordingFunction()
    pump = stream_pump(stack, function)
    drain(pump)
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    backend.tables[stack.table] = copy.deepcopy(backend.tables[stack.table])
    # When the user logs in
    tokens = login(stack)
    pump.poll()  # the stale iterator sees nothing; the check finds the login
    drain(pump)
    # Then the reader said so and delivered the login anyway
    assert "stopped seeing new records" in capsys.readouterr().err
    assert tokens["session_id"] in json.dumps(function.events)


def test_an_event_the_consumer_keeps_failing_on_goes_to_its_on_failure_queue(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a PasswordChanged event on the rule's queue, and a consumer that fails
    (route,) = [r for r in stack.provisioned.rule_routes if "Password" in r.function]
    event = password_changed("00000000-0000-4000-8000-000000000000", _an_hour_ago())
    stack.clients("sqs").send_message(QueueUrl=route.queue_url, MessageBody=json.dumps(event))
    function = RecordingFunction(fails_on=lambda _: True)
    pump = pumps.QueuePump(route, function, stack.clients("sqs"), threading.Event())  # type: ignore[arg-type]
    # When the pump drains the queue
    assert pump.drain() == 1
    # Then the event was tried 1 + MaximumRetryAttempts times, logged, and parked
    assert "it goes to the OnFailure queue" in capsys.readouterr().err
    (parked,) = dead_letters(stack, "PasswordChangedDeadLetterQueue")
    assert parked["requestPayload"]["detail"] == event["detail"]
    assert parked["requestContext"]["approximateInvokeCount"] == 3
    # each attempt an asynchronous invocation, which waits out reserved concurrency
    assert function.queued == [True, True, True]


def test_the_triggers_are_read_from_the_template_as_deployed(stack: Stack) -> None:
    refs = stack.template.names.refs
    # The stream mapping SAM made from the publisher's DynamoDB event
    (trigger,) = [t for t in stack.provisioned.stream_triggers if "Publisher" in t.function]
    assert trigger.function == "EventPublisherFunction"
    assert trigger.stream_arn == stack.template.names.attributes[("SessionTable", "StreamArn")]
    expected = (100, 10, True)
    assert (trigger.batch_size, trigger.maximum_retry_attempts, trigger.bisect_on_error) == expected
    assert trigger.on_failure_queue_url == refs["PublisherDeadLetterQueue"]
    assert len(trigger.filters) == 5
    # The rule SAM made from the consumer's EventBridgeRule event, its target's dead-letter
    # queue, and the function's EventInvokeConfig
    (route,) = [r for r in stack.provisioned.rule_routes if "Password" in r.function]
    assert route.function == "PasswordChangedFunction"
    assert route.rule_arn.endswith(
        ":rule/session-service-events/session-service-PasswordChangedFunctionPasswordChanged"
    )
    assert route.target_arn.endswith(":function:session-service-PasswordChangedFunction")
    assert route.delivery_permitted
    assert route.dead_letter_queue_url == refs["PasswordChangedDeadLetterQueue"]
    assert route.on_failure_queue_url == refs["PasswordChangedDeadLetterQueue"]
    assert route.maximum_retry_attempts == 2


def test_a_rule_no_permission_lets_invoke_the_function_dead_letters_its_events(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the template without the Lambda permission SAM adds for the rule
    template = deployed_template(stack.template.parameters)
    del template.document["Resources"]["PasswordChangedFunctionPasswordChangedPermission"]
    routes = provision(template, stack.clients, ISSUER).rule_routes
    (route,) = [r for r in routes if "Password" in r.function]
    assert not route.delivery_permitted
    # When an event reaches the rule's queue
    event = password_changed("00000000-0000-4000-8000-000000000000", _an_hour_ago())
    stack.clients("sqs").send_message(QueueUrl=route.queue_url, MessageBody=json.dumps(event))
    function = RecordingFunction()
    pump = pumps.QueuePump(route, function, stack.clients("sqs"), threading.Event())  # type: ignore[arg-type]
    assert pump.drain() == 1
    # Then the function never ran; EventBridge put the event itself in the target's
    # dead-letter queue at once (it does not retry a permission error), saying why
    assert function.events == []
    assert "no Lambda permission" in capsys.readouterr().err
    answer = stack.clients("sqs").receive_message(
        QueueUrl=route.dead_letter_queue_url, MessageAttributeNames=["All"]
    )
    (message,) = answer["Messages"]
    assert json.loads(message["Body"]) == {**event, "account": "123456789012"}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes["RULE_ARN"] == route.rule_arn
    assert attributes["TARGET_ARN"] == route.target_arn


def _an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_the_ttl_sweeper_deletes_what_has_expired_and_nothing_else(stack: Stack) -> None:
    # Given items whose TTL has passed, one that has not, and one without a TTL
    (table,) = stack.provisioned.ttl_tables
    client = stack.clients("dynamodb")
    now = 1_900_000_000

    def put(pk: str, ttl: int | None) -> None:
        item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": "X"}}
        if ttl is not None:
            item["ttl"] = {"N": str(ttl)}
        client.put_item(TableName=stack.table, Item=item)

    for index in range(30):
        put(f"OLD#{index}", now - 1 - index)
    put("FRESH", now + 1)
    put("FOREVER", None)
    # When the sweeper runs
    assert ttl.sweep(client, table, now=now) == 30
    # Then what remains is what had not expired
    assert sorted(item["pk"]["S"] for item in stack.items()) == ["FOREVER", "FRESH"]


def test_an_idle_pump_slows_to_its_idle_pace_and_work_brings_it_back() -> None:
    pace = pumps.PollPace()
    idle = [pace.after(worked=False) for _ in range(5)]
    assert idle == [0.2, 0.4, 0.5, 0.5, 0.5]
    assert pace.after(worked=True) == pumps.POLL_INTERVAL
    assert pace.after(worked=False) == 0.2


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_transaction_repeated_with_its_token_is_answered_without_a_second_write(
    stack: Stack,
) -> None:
    # botocore sends the same ClientRequestToken when it retries a transaction (after a
    # timeout): DynamoDB answers the repeat with success and writes nothing, and so does
    # the local emulator (moto on its own applied it again, into a conflict)
    client = stack.clients("dynamodb")
    put = {
        "Put": {
            "TableName": stack.table,
            "Item": {"pk": {"S": "ONCE"}, "sk": {"S": "X"}, "n": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    client.transact_write_items(TransactItems=[put], ClientRequestToken="retry-1")
    client.transact_write_items(TransactItems=[put], ClientRequestToken="retry-1")
    # and another token is another transaction, whose condition fails
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[put], ClientRequestToken="retry-2")
    assert [i for i in stack.items() if i["pk"]["S"] == "ONCE"] == [put["Put"]["Item"]]
