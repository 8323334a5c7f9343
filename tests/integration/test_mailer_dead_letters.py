"""The mailer through the local run's pumps, as its event source mapping and its rule
deliver to it (read from the template as deployed): with SES failing for good, a mail
request is retried and its coordinates parked, a notice retried and parked whole, in
MailerDeadLetterQueue."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import Stack
from local_run import pumps
from local_run.functions import InvocationError
from tests.mail_helpers import sent
from tests.mailer_helpers import (
    ADDRESS,
    mail_stack,
    mailer,
    password_changed,
    register_with_address,
    ses_down,
    with_verified_address,
)


@pytest.fixture
def stack(stack_with: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setattr(pumps, "RETRY_DELAY", 0)
    return mail_stack(stack_with)


class InProcessMailer:
    """The mailer as the local run's pumps invoke a function: an unhandled error is an
    InvocationError, as the function host reports it."""

    name = "session-service-MailerFunction"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.queued: list[bool] = []

    def invoke(self, event: dict[str, Any], queued: bool = False) -> Any:
        self.queued.append(queued)
        try:
            return mailer(self.stack)(event)
        except Exception as error:
            raise InvocationError(type(error).__name__, str(error)) from None


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    url = stack.template.names.refs["MailerDeadLetterQueue"]
    answer = stack.clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_the_mailers_triggers_are_read_from_the_template_as_deployed(stack: Stack) -> None:
    refs = stack.template.names.refs
    (trigger,) = [t for t in stack.provisioned.stream_triggers if t.function == "MailerFunction"]
    assert (trigger.batch_size, trigger.maximum_retry_attempts, trigger.bisect_on_error) == (
        10,
        10,
        True,
    )
    assert trigger.reports_item_failures
    assert trigger.on_failure_queue_url == refs["MailerDeadLetterQueue"]
    assert len(trigger.filters) == 1
    (route,) = [r for r in stack.provisioned.rule_routes if r.function == "MailerFunction"]
    assert route.delivery_permitted
    assert route.dead_letter_queue_url == refs["MailerDeadLetterQueue"]
    assert route.on_failure_queue_url == refs["MailerDeadLetterQueue"]
    assert route.maximum_retry_attempts == 2


def test_a_request_ses_keeps_refusing_ends_in_the_dead_letter_queue(
    stack: Stack,
) -> None:
    # Given a request on the stream, and SES down for good
    register_with_address(stack)
    ses_down(stack)
    (trigger,) = [t for t in stack.provisioned.stream_triggers if t.function == "MailerFunction"]
    function = InProcessMailer(stack)
    pump = pumps.StreamPump(
        trigger,
        function,  # type: ignore[arg-type]
        stack.clients("dynamodbstreams"),
        threading.Event(),
        stack.clients("sqs"),
    )
    # When the pump delivers the stream (only the request passes the mapping's filter)
    while pump.poll():
        pass
    # Then it was tried as often as the mapping allows locally, sent nothing, and its
    # coordinates were parked
    assert function.queued == [True] * pumps.LOCAL_BATCH_ATTEMPTS
    assert sent() == []
    (parked,) = dead_letters(stack)
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 1
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_a_notice_ses_keeps_refusing_ends_in_the_dead_letter_queue(
    stack: Stack,
) -> None:
    # Given a notice on the rule's queue for a user with a verified address, SES down
    user_id = with_verified_address(stack)
    ses_down(stack)
    (route,) = [r for r in stack.provisioned.rule_routes if r.function == "MailerFunction"]
    event = password_changed(user_id)
    stack.clients("sqs").send_message(QueueUrl=route.queue_url, MessageBody=json.dumps(event))
    function = InProcessMailer(stack)
    pump = pumps.QueuePump(route, function, stack.clients("sqs"), threading.Event())  # type: ignore[arg-type]
    # When the pump drains the queue
    assert pump.drain() == 1
    # Then it was tried 1 + MaximumRetryAttempts times (each an asynchronous invocation),
    # and parked with the event
    assert function.queued == [True, True, True]
    (parked,) = dead_letters(stack)
    assert parked["requestPayload"]["detail"] == event["detail"]
    assert len(sent(ADDRESS)) == 1  # the verification code only
