"""The mailer under lost answers and faults, for each request it serves (a verification
code, a reset link, a sign-in code): a write of its whose answer was lost is sent again by
botocore and recognised, and the message goes out once, no failure reported; DynamoDB or
SES failing beyond the retries reports the stream record failed, and the stream's retry
sends exactly one message, whose code or link is the one that works."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from harness.lost_answers import DynamoFaults, injected, nth_write
from harness.stack import HttpAnswer, Stack
from tests.helpers import login
from tests.integration.backends import SWEEP_BACKENDS
from tests.integration.email_routes import (
    Refusals,
    address,
    forgot,
    register,
    reset,
    sign_in,
    start,
    unregistered,
    verified,
    verify,
)
from tests.integration.lost_answer_sweep import Subject
from tests.mail_helpers import new_mail_requests, sent, verify_sender
from tests.mailer_helpers import mailer, ses_down, ses_up

pytestmark = pytest.mark.parametrize("backend", SWEEP_BACKENDS, indirect=True)


@pytest.fixture
def mail_stack(sweep_mail_stack: Stack) -> Stack:
    return sweep_mail_stack


# -- each request: asked for, then what its message does --------------------------------


def _verification(stack: Stack, username: str) -> Subject:
    subject = unregistered(stack, username)
    assert register(stack, subject).status == 201
    return subject


def _reset_link(stack: Stack, username: str) -> Subject:
    subject = verified(stack, username)
    assert forgot(stack, subject).status == 202
    return subject


def _sign_in_code(stack: Stack, username: str) -> Subject:
    subject = verified(stack, username)
    started = start(stack, subject)
    assert started.status == 202, started.json()
    subject.extra["login_id"] = started.json()["login_id"]
    return subject


def _verifies(stack: Stack, subject: Subject) -> HttpAnswer:
    subject.own = login(stack, subject.extra["username"])
    subject.extra["code"] = sent(address(subject))[-1].code
    return verify(stack, subject)


def _resets(stack: Stack, subject: Subject) -> HttpAnswer:
    links = [mail for mail in sent(address(subject)) if "#token=" in mail.text]
    subject.extra["token"] = links[-1].token
    return reset(stack, subject)


def _signs_in(stack: Stack, subject: Subject) -> HttpAnswer:
    # (the account's first message was its address's verification code)
    subject.extra["code"] = sent(address(subject))[-1].code
    return sign_in(stack, subject)


Request = Callable[[Stack, str], Subject]
Works = Callable[[Stack, Subject], HttpAnswer]
# Each request: how it is asked for, what its message does, and what that answers
REQUESTS: dict[str, tuple[Request, Works, int]] = {
    "verification_code": (_verification, _verifies, 204),
    "reset_link": (_reset_link, _resets, 200),
    "sign_in_code": (_sign_in_code, _signs_in, 200),
}


def _delivered(stack: Stack, records: list[Any]) -> bool:
    """Hand the records to the mailer: whether none was reported failed."""
    try:
        answer = mailer(stack)({"Records": records})
    except BatchProcessingError:  # every record failed: the stream retries the batch
        return False
    return bool(answer == {"batchItemFailures": []})


def _not_the_first_record(body: bytes) -> bool:
    """Not Powertools' first write of a message's record (INPROGRESS): sent again after its
    answer was lost, it meets itself and takes it for another container sending the same
    message, and the record is reported failed until the in-progress mark expires (the
    invocation's remaining time); a limit of the idempotency utility, not of ours."""
    return not (b'"MAILSENT"' in body and b'"INPROGRESS"' in body)


def _mailed(subject: Subject) -> int:
    return len(sent(address(subject)))


@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_a_mailer_write_whose_answer_was_lost_sends_one_message_that_works(
    mail_stack: Stack, request_name: str
) -> None:
    ask, works, status = REQUESTS[request_name]
    # The mailer's writes when all is well (its idempotency records too)
    subject = ask(mail_stack, "clean")
    before = _mailed(subject)
    never = lambda _operation, _number: False  # noqa: E731
    clean = DynamoFaults("post", choose=never, concerns=_not_the_first_record)
    with injected(clean):
        assert _delivered(mail_stack, new_mail_requests(mail_stack))
    writes = sum(clean.calls.values())
    assert writes >= 2  # its code or link, the message's record completed
    assert (_mailed(subject) - before, works(mail_stack, subject).status) == (1, status)
    for lost in range(1, writes + 1):
        subject = ask(mail_stack, f"user{lost}")
        before = _mailed(subject)
        faults = DynamoFaults("post", choose=nth_write(lost), concerns=_not_the_first_record)
        with injected(faults):
            delivered = _delivered(mail_stack, new_mail_requests(mail_stack))
        assert sum(faults.injected.values()) == 1, lost
        # No failure reported, one message, and its code or link works
        outcome = (delivered, _mailed(subject) - before, works(mail_stack, subject).status)
        assert outcome == (True, 1, status), (lost, faults.injected)


@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_a_mailer_call_failing_beyond_retries_is_retried_and_sends_one_message_that_works(
    mail_stack: Stack, refusals: Refusals, request_name: str
) -> None:
    ask, works, status = REQUESTS[request_name]
    # The mailer's DynamoDB calls up to its code's or link's write (the message's own
    # record taken before it); SES sends after it
    ask(mail_stack, "clean")
    refusals.start()
    assert _delivered(mail_stack, new_mail_requests(mail_stack))
    steps = refusals.committing()
    for number in range(1, len(steps) + 1):
        subject = ask(mail_stack, f"user{number}")
        before = _mailed(subject)
        records = new_mail_requests(mail_stack)
        refusals.start(number)
        assert not _delivered(mail_stack, records), (number, steps[number - 1])
        refusals.start()
        assert _mailed(subject) == before, number
        # The stream's retry: one message, and its code or link works
        assert _delivered(mail_stack, records), number
        outcome = (_mailed(subject) - before, works(mail_stack, subject).status)
        assert outcome == (1, status), (number, steps[number - 1])


@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_a_message_ses_refused_is_retried_once_and_its_code_works(
    mail_stack: Stack, request_name: str
) -> None:
    ask, works, status = REQUESTS[request_name]
    subject = ask(mail_stack, "ada")
    before = _mailed(subject)
    records = new_mail_requests(mail_stack)
    ses_down(mail_stack)
    assert not _delivered(mail_stack, records)
    ses_up(mail_stack)
    verify_sender(mail_stack)
    assert _mailed(subject) == before
    # The retry draws a new code or link (the one written for the failed send is void)
    assert _delivered(mail_stack, records)
    assert _delivered(mail_stack, records)  # delivered again: sent already, nothing more
    assert (_mailed(subject) - before, works(mail_stack, subject).status) == (1, status)
