"""The mailer's delivery, in process over moto: with SES failing, a stream record is
reported failed (and a notice raises) so that Lambda retries it; once SES recovers the
retry sends the message exactly once, and no later delivery of it sends it again. A
record or event that can never be sent is dropped, not retried. Through the local run's
pumps, a message that keeps failing ends in MailerDeadLetterQueue."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from harness.stack import LambdaContext, Stack
from local_run import pumps
from local_run.functions import InvocationError
from session_service import mail_wiring, wiring
from session_service.adapters.mail_items import mail_request_key
from session_service.adapters.ses_mail import SesMailSender, sesv2_client
from session_service.domain.email.mail import OutgoingMail
from session_service.domain.errors import Unavailable
from session_service.observability import logger
from tests.deployed_shape import permissions_for, stack_arns
from tests.helpers import PASSWORD, bearer, login, stream_records
from tests.mail_helpers import EMAIL_ON, SENDER, deliver_mail, sent, verify_sender

ADDRESS = "ada@example.com"
DOMAIN = SENDER.split("@")[1]


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    stack = stack_with(**EMAIL_ON)
    verify_sender(stack)
    return stack


def ses_down(stack: Stack) -> None:
    """SES refuses every message: the sender's identities are gone (MessageRejected)."""
    ses = stack.clients("sesv2")
    for identity in ses.list_email_identities()["EmailIdentities"]:
        ses.delete_email_identity(EmailIdentity=identity["IdentityName"])


def ses_up(stack: Stack) -> None:
    stack.clients("sesv2").create_email_identity(EmailIdentity=DOMAIN)


def register_with_address(stack: Stack) -> None:
    body = {"username": "ada", "password": PASSWORD, "email": ADDRESS}
    answer = stack.http("POST", "/auth/register", body)
    assert answer.status == 201, answer.json()


def mail_requests(stack: Stack) -> list[dict[str, Any]]:
    return [
        record
        for record in stream_records(stack)
        if record["eventName"] == "INSERT"
        and record["dynamodb"]["NewImage"].get("kind", {}).get("S") == "mail_request"
    ]


def mailer(stack: Stack) -> Callable[[dict[str, Any]], Any]:
    handler = stack.function("MailerFunction").lambda_handler
    return lambda event: handler(json.loads(json.dumps(event)), LambdaContext())


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    output = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(output)  # type: ignore[attr-defined]
    yield output
    handler.setStream(previous)  # type: ignore[attr-defined]


# -- the stream: mail requests ------------------------------------------------------------


def test_a_request_ses_refused_is_reported_failed_and_sent_once_when_ses_recovers(
    stack: Stack,
) -> None:
    # Given a registration with an address (a verification code to mail), and SES down
    register_with_address(stack)
    (record,) = mail_requests(stack)
    ses_down(stack)
    # When the stream delivers it: the invocation fails, as every record of its batch did
    # (Powertools raises then: the stream retries the batch), and nothing was sent
    with pytest.raises(BatchProcessingError, match="All records failed"):
        mailer(stack)({"Records": [record]})
    assert sent() == []
    # When SES is back and the stream retries it: sent, once
    ses_up(stack)
    assert mailer(stack)({"Records": [record]}) == {"batchItemFailures": []}
    (mail,) = sent()
    assert (mail.to, mail.subject) == (ADDRESS, "Verify your e-mail address")
    # And the code the retry mailed is the one that verifies the address
    tokens = login(stack)
    verified = stack.http(
        "POST", "/auth/email/verify", {"code": mail.code}, headers=bearer(tokens["access_token"])
    )
    assert verified.status == 204, verified.json()


def test_a_second_delivery_of_a_sent_request_sends_nothing(stack: Stack) -> None:
    # Given a request the mailer sent
    register_with_address(stack)
    assert deliver_mail(stack) == {"batchItemFailures": []}
    assert len(sent()) == 1
    # When the stream delivers it again (at least once), twice
    assert deliver_mail(stack) == {"batchItemFailures": []}
    assert deliver_mail(stack) == {"batchItemFailures": []}
    # Then nothing more was sent; the message's record says it was sent
    assert len(sent()) == 1
    (record,) = [i for i in stack.items() if i["pk"]["S"] == "MAILSENT"]
    assert record["status"]["S"] == "COMPLETED"
    assert "kind" not in record
    assert int(record["ttl"]["N"]) > 0


def test_only_the_failed_record_of_a_batch_is_reported_and_retried(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two requests in one batch, and SES refusing messages to ada's address
    register_with_address(stack)
    body = {"username": "bob", "password": PASSWORD, "email": "bob@example.com"}
    assert stack.http("POST", "/auth/register", body).status == 201
    first, second = mail_requests(stack)
    send = SesMailSender.send

    def refusing_ada(sender: SesMailSender, mail: OutgoingMail) -> None:
        if mail.to == ADDRESS:
            raise Unavailable()
        send(sender, mail)

    monkeypatch.setattr(SesMailSender, "send", refusing_ada)
    # When the batch is delivered: only ada's record is reported failed
    answer = mailer(stack)({"Records": [first, second]})
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": first["dynamodb"]["SequenceNumber"]}]
    }
    assert [mail.to for mail in sent()] == ["bob@example.com"]
    # When SES takes ada's again and the stream retries from the failed record on
    monkeypatch.setattr(SesMailSender, "send", send)
    assert mailer(stack)({"Records": [first, second]}) == {"batchItemFailures": []}
    # Then each address got exactly one message
    assert sorted(mail.to for mail in sent()) == ["ada@example.com", "bob@example.com"]


def test_a_record_that_is_no_mail_request_is_dropped_and_logged_without_its_content(
    stack: Stack, log_output: io.StringIO
) -> None:
    # Given a request whose purpose no mailer knows, and a record with no image at all
    register_with_address(stack)
    (record,) = mail_requests(stack)
    strange = json.loads(json.dumps(record))
    strange["dynamodb"]["NewImage"]["purpose"] = {"S": "lottery_win"}
    strange["dynamodb"]["SequenceNumber"] = "1"
    bare = {**record, "dynamodb": {"SequenceNumber": "2"}}
    # When they are delivered
    answer = mailer(stack)({"Records": [strange, bare]})
    # Then neither is retried, nothing is sent, and the log names no address
    assert answer == {"batchItemFailures": []}
    assert sent() == []
    logged = log_output.getvalue()
    assert logged.count("dropped a stream record that is no mail request") == 2
    assert ADDRESS not in logged


def test_a_request_item_stays_for_a_day_after_it_was_sent(stack: Stack) -> None:
    register_with_address(stack)
    deliver_mail(stack)
    (record,) = mail_requests(stack)
    key = mail_request_key(record["dynamodb"]["Keys"]["pk"]["S"].removeprefix("MAILREQ#"))
    item = stack.clients("dynamodb").get_item(TableName=stack.table, Key=key)["Item"]
    assert item["kind"]["S"] == "mail_request"


# -- the bus: security notices ------------------------------------------------------------


def with_verified_address(stack: Stack) -> str:
    """A user whose address is verified; their id."""
    register_with_address(stack)
    deliver_mail(stack)
    (mail,) = sent(ADDRESS)
    tokens = login(stack)
    verify = {"code": mail.code}
    answer = stack.http(
        "POST", "/auth/email/verify", verify, headers=bearer(tokens["access_token"])
    )
    assert answer.status == 204, answer.json()
    account = stack.http("GET", "/auth/account", headers=bearer(tokens["access_token"])).json()
    return str(account["user_id"])


def password_changed(user_id: str, bridge_id: str = "bridge-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": bridge_id,
        "detail-type": "PasswordChanged",
        "source": "session-service",
        "account": "123456789012",
        "time": "2026-11-29T00:30:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "event_id": "stream-record-7",
            "user_id": user_id,
            "changed_at": "2026-11-29T00:30:00.000Z",
        },
    }


def test_a_notice_ses_refused_raises_for_lambdas_retry_and_is_sent_once_after(
    stack: Stack,
) -> None:
    # Given a user with a verified address, and SES down
    user_id = with_verified_address(stack)
    ses_down(stack)
    # When their password-change notice arrives: the invocation fails (Lambda retries it)
    with pytest.raises(Unavailable):
        mailer(stack)(password_changed(user_id))
    assert len(sent(ADDRESS)) == 1  # the verification code only
    # When SES is back and Lambda retries it: sent
    ses_up(stack)
    assert mailer(stack)(password_changed(user_id)) == {"status": "processed"}
    notices = [mail for mail in sent(ADDRESS) if mail.subject == "Your password was changed"]
    assert len(notices) == 1
    assert "2026-11-29T00:30:00.000Z" in notices[0].text
    # And the same event again, even as EventBridge republished it (a new id), sends nothing
    mailer(stack)(password_changed(user_id))
    mailer(stack)(password_changed(user_id, bridge_id="bridge-2"))
    assert len(sent(ADDRESS)) == 2


def test_an_event_without_a_detail_is_dropped(stack: Stack) -> None:
    answer = mailer(stack)({"id": "x", "detail-type": "PasswordChanged", "source": "s"})
    assert answer == {"status": "dropped"}
    assert mailer(stack)({"detail-type": "PasswordChanged", "detail": {}}) == {"status": "dropped"}


# -- through the local run's pumps: retries, then the dead-letter queue --------------------


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
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request on the stream, and SES down for good
    monkeypatch.setattr(pumps, "RETRY_DELAY", 0)
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
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a notice on the rule's queue for a user with a verified address, SES down
    monkeypatch.setattr(pumps, "RETRY_DELAY", 0)
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


# -- its role -------------------------------------------------------------------------------


def test_the_mailer_started_cold_calls_exactly_what_its_role_allows(
    stack_with: Callable[..., Stack],
) -> None:
    # Given links under the issuer read from SSM (no TOKEN_ISSUER), and SES refusing once
    stack = stack_with(**EMAIL_ON, TOKEN_ISSUER="")
    verify_sender(stack)
    wiring.reset()
    # (wiring.reset leaves the e-mail capability's own caches: a cold start has none)
    for factory in (*vars(mail_wiring).values(), sesv2_client):
        if callable(getattr(factory, "cache_clear", None)):
            factory.cache_clear()
    user_id = with_verified_address(stack)
    ses_down(stack)
    with pytest.raises(Unavailable):
        mailer(stack)(password_changed(user_id))
    ses_up(stack)
    # When it mails a notice, a reset link and a sign-in code
    mailer(stack)(password_changed(user_id))
    assert stack.http("POST", "/auth/password/forgot", {"username": "ada"}).status == 202
    assert stack.http("POST", "/auth/email/login/start", {"email": ADDRESS}).status == 202
    assert deliver_mail(stack) == {"batchItemFailures": []}
    subjects = [mail.subject for mail in sent(ADDRESS)]
    assert subjects[1:] == ["Your password was changed", "Reset your password", "Your sign-in code"]
    # Then every action its role grants was needed, and nothing else was called
    arns = stack_arns(stack.template)
    called = {
        needed.action
        for call in stack.calls.calls
        if call.function == "MailerFunction"
        for needed in permissions_for(call.service, call.operation, call.params, arns)
    }
    assert called == MAILER_ACTIONS


# What the mailer's code calls (Lambda itself reads the stream and writes the dead-letter
# queue with its role: AWSLambdaDynamoDBExecutionRole, sqs:SendMessage).
MAILER_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ses:SendEmail",
}
