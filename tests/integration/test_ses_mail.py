"""The SES adapter on moto: one SES v2 SendEmail per message, its raw MIME holding the
plain text and the HTML as alternatives, from the configured sender; any SES failure is
Unavailable, for the mailer's retry."""

from __future__ import annotations

import email
import io
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.ses.models import ses_backends

from session_service.adapters.mail_rendering import render
from session_service.adapters.ses_mail import SesMailSender, ses_mail_sender, sesv2_client
from session_service.config import Settings
from session_service.domain.email.mail import OutgoingMail, Undeliverable
from session_service.domain.errors import Unavailable
from session_service.observability import logger

SENDER = "no-reply@mail.example.com"
MAIL = OutgoingMail(
    mail_id="req-1",
    to="ada@example.org",
    template="sign_in_code",
    values={"code": "042517", "minutes": "10"},
)


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's SES v2, with the sender's domain verified (SES sends from nothing else)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("sesv2", region_name="us-east-1")
        client.create_email_identity(EmailIdentity="mail.example.com")
        yield client


def sent() -> list[EmailMessage]:
    messages = ses_backends["123456789012"]["us-east-1"].sent_messages
    return [email.message_from_string(m.raw_data, policy=default) for m in messages]


def test_a_message_goes_out_as_one_raw_mime_message_with_both_parts(ses: Any) -> None:
    # When
    SesMailSender(ses, SENDER).send(MAIL)
    # Then SES sent one message from the sender to the address, with the subject
    (message,) = sent()
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Your sign-in code"
    assert message["Date"]
    # and the text and HTML as alternatives, each as rendered
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    rendered = render(MAIL)
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content_type() == "text/html"
    assert "042517" in html.get_content()
    assert html.get_content().replace("\r\n", "\n") == rendered.html


def test_non_ascii_values_survive_the_trip(ses: Any) -> None:
    # Given a username no ASCII can spell
    mail = OutgoingMail(
        "req-2", "zoe@example.org", "password_changed", {"username": "Zoë 山田", "at": "now"}
    )
    # When
    SesMailSender(ses, SENDER).send(mail)
    # Then the message is 7-bit (quoted-printable), and both parts carry it as written
    (raw,) = ses_backends["123456789012"]["us-east-1"].sent_messages
    assert raw.raw_data.isascii()
    (message,) = sent()
    text, html = message.iter_parts()
    assert "Hello Zoë 山田," in text.get_content()
    assert "Hello Zoë 山田," in html.get_content()


def test_an_address_that_would_inject_a_header_is_refused_before_ses(ses: Any) -> None:
    mail = OutgoingMail("req-3", "ada@example.org\r\nBcc: eve@example.net", "sign_in_code", {})
    with pytest.raises(Undeliverable):
        SesMailSender(ses, SENDER, renderer=lambda _: render(MAIL)).send(mail)
    assert sent() == []


def test_an_unverified_sender_is_unavailable_and_nothing_is_sent(ses: Any) -> None:
    # Given a sender whose identity SES does not know (MessageRejected)
    sender = SesMailSender(ses, "someone@elsewhere.example")
    # When / Then
    with pytest.raises(Unavailable):
        sender.send(MAIL)
    assert sent() == []


def test_the_configuration_set_and_the_template_tag_go_with_the_message(ses: Any) -> None:
    # Given SES as a stub that expects exactly this request
    with Stubber(ses) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "m-1"},
            {
                "FromEmailAddress": SENDER,
                "Destination": {"ToAddresses": ["ada@example.org"]},
                "Content": {"Raw": {"Data": ANY}},
                "EmailTags": [{"Name": "template", "Value": "sign_in_code"}],
                "ConfigurationSetName": "session-service-mail",
            },
        )
        # When / Then
        SesMailSender(ses, SENDER, configuration_set="session-service-mail").send(MAIL)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["MessageRejected", "TooManyRequestsException", "SendingPausedException"]
)
def test_an_ses_error_is_unavailable(ses: Any, code: str) -> None:
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=400)
        with pytest.raises(Unavailable):
            SesMailSender(ses, SENDER).send(MAIL)


class UnreachableSes:
    def send_email(self, **_request: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")


def test_ses_out_of_reach_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        SesMailSender(UnreachableSes(), SENDER).send(MAIL)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    output = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(output)  # type: ignore[attr-defined]
    yield output
    handler.setStream(previous)  # type: ignore[attr-defined]


def test_a_failure_log_names_the_message_never_the_address(
    ses: Any, log_output: io.StringIO
) -> None:
    with pytest.raises(Unavailable):
        SesMailSender(ses, "someone@elsewhere.example").send(MAIL)
    logged = log_output.getvalue()
    assert "req-1" in logged
    assert "MessageRejected" in logged
    assert "ada@example.org" not in logged
    assert "042517" not in logged


def test_the_factory_sends_from_the_settings_sender(ses: Any) -> None:
    # Given the mailer's settings (its client made while moto is on)
    sesv2_client.cache_clear()
    settings = Settings.from_env(
        {
            "TABLE_NAME": "t",
            "SIGNING_KEY_SECRET_ID": "s",
            "TOKEN_ISSUER": "https://issuer.example.com",
            "TOKEN_AUDIENCE": "a",
            "EMAIL_SENDER": SENDER,
        }
    )
    # When
    ses_mail_sender(settings).send(MAIL)
    sesv2_client.cache_clear()
    # Then
    (message,) = sent()
    assert message["From"] == SENDER
