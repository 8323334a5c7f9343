"""The mailer's delivery, in process over moto (and DynamoDB Local): with SES failing, a
stream record is reported failed (and a notice raises) so that Lambda retries it; once SES
recovers the retry sends the message exactly once, and no later delivery of it, however
many and however concurrent, sends it again. A record or event that can never be sent is
dropped, not retried. (Through the local run's pumps: test_mailer_dead_letters.py.)"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from harness.recording import RUNNING
from harness.stack import LambdaContext, Stack, load_function
from session_service import mail_wiring, wiring
from session_service.adapters.ses_mail import SesMailSender, sesv2_client
from session_service.domain.email.mail import OutgoingMail
from session_service.domain.errors import Unavailable
from session_service.observability import logger
from tests.deployed_shape import permissions_for, stack_arns
from tests.helpers import PASSWORD, bearer, burst, login, serialize_aws_calls
from tests.mail_helpers import deliver_mail, sent
from tests.mailer_helpers import (
    ADDRESS,
    mail_requests,
    mail_stack,
    mailer,
    password_changed,
    register_with_address,
    ses_down,
    ses_up,
    with_verified_address,
)


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    return mail_stack(stack_with)


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


@pytest.mark.parametrize("backend", ["moto", "dynamodb-local"], indirect=True)
def test_eight_containers_delivering_one_request_at_once_send_it_once(
    stack: Stack, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one request, and eight warm containers of the mailer (each its own module)
    if backend == "moto":
        serialize_aws_calls(monkeypatch)
    register_with_address(stack)
    (record,) = mail_requests(stack)
    containers = [load_function("mailer") for _ in range(8)]

    def deliver(index: int) -> str:
        token = RUNNING.set("MailerFunction")
        try:
            event = {"Records": [json.loads(json.dumps(record))]}
            containers[index].lambda_handler(event, LambdaContext())
            return "done"
        except BatchProcessingError:
            return "in progress elsewhere: retried"
        finally:
            RUNNING.reset(token)

    # When they all deliver it at once
    outcomes = burst(8, deliver)
    # Then it was sent once; the ones that found it being sent fail, and their retry
    # sends nothing
    assert outcomes["done"] >= 1
    assert sum(outcomes.values()) == 8
    assert mailer(stack)({"Records": [record]}) == {"batchItemFailures": []}
    assert [mail.to for mail in sent()] == [ADDRESS]


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


# -- the bus: security notices ------------------------------------------------------------


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
    assert "2026-11-29 00:30 UTC" in notices[0].text
    # And the same event again, even as EventBridge republished it (a new id), sends nothing
    mailer(stack)(password_changed(user_id))
    mailer(stack)(password_changed(user_id, bridge_id="bridge-2"))
    assert len(sent(ADDRESS)) == 2


def test_an_event_without_a_detail_is_dropped(stack: Stack) -> None:
    answer = mailer(stack)({"id": "x", "detail-type": "PasswordChanged", "source": "s"})
    assert answer == {"status": "dropped"}
    assert mailer(stack)({"detail-type": "PasswordChanged", "detail": {}}) == {"status": "dropped"}


# -- its role -------------------------------------------------------------------------------


def test_the_mailer_started_cold_calls_exactly_what_its_role_allows(
    stack_with: Callable[..., Stack],
) -> None:
    # Given links under the issuer read from SSM (no TOKEN_ISSUER), and SES refusing once
    stack = mail_stack(stack_with, TOKEN_ISSUER="")
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
