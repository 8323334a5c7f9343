"""The demo's mailbox, from the emulator's records of what SES sent: the messages to one
address (To, Cc or Bcc, whatever the case), newest first, their text and HTML parts read
from the MIME; and the e-mail settings a local run starts with."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from local_run.__main__ import DEMO, LOCAL_EMAIL_SENDER, demo_origin, local_email_settings
from local_run.gateway import Gateway, GatewayConfig
from local_run.mailbox import mailbox, messages_to
from local_run.responses import GatewayResponse


def raw(to: str, subject: str, text: str, html: str | None = None, cc: str = "") -> str:
    """A message as SES v2 gets it in Content.Raw (multipart/alternative with HTML)."""
    message = EmailMessage()
    message["From"] = "no-reply@session-service.localhost"
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes().decode()


def record(raw_data: str, at: str, to: tuple[str, ...] = ()) -> dict[str, Any]:
    """The emulator's record of a raw send (local_run/moto_ses.py)."""
    return {
        "Id": at,
        "Source": "no-reply@session-service.localhost",
        "Destination": {"ToAddresses": list(to)},
        "RawData": raw_data,
        "Timestamp": at,
    }


def test_a_raw_message_shows_its_subject_text_and_html_parts() -> None:
    # Given a multipart/alternative message with non-ASCII text in both parts
    sent = raw(
        "Ada <ada@example.com>",
        "Réinitialisez votre mot de passe",
        "Ouvrez ce lien : https://demo.test/#token=abc — il expire.",
        '<p><a href="https://demo.test/#token=abc">Réinitialiser</a></p>',
    )
    # When the mailbox of its address is read
    (message,) = messages_to("ada@example.com", [record(sent, "2030-01-01T00:00:00.000Z")])
    # Then it is shown decoded, part by part
    assert message == {
        "to": "Ada <ada@example.com>",
        "subject": "Réinitialisez votre mot de passe",
        "text": "Ouvrez ce lien : https://demo.test/#token=abc — il expire.\n",
        "html": '<p><a href="https://demo.test/#token=abc">Réinitialiser</a></p>\n',
        "sent_at": "2030-01-01T00:00:00.000Z",
    }


def test_only_the_messages_to_the_address_are_shown_newest_first() -> None:
    # Given messages to several addresses, two of them in the same millisecond
    sent = [
        record(raw("ada@example.com", "first", "1"), "2030-01-01T00:00:01.000Z"),
        record(raw("bob@example.com", "not Ada's", "x"), "2030-01-01T00:00:02.000Z"),
        record(
            raw("bob@example.com", "copied", "2", cc="ADA@Example.com"), "2030-01-01T00:00:03.000Z"
        ),
        record(
            raw("x@example.com", "blind", "3"), "2030-01-01T00:00:03.000Z", to=("ada@example.com",)
        ),
    ]
    # When Ada's mailbox is read, her address in another case
    shown = messages_to("Ada@EXAMPLE.com", sent)
    # Then hers only, by To, Cc or the call's own recipients, the newest first
    assert [message["subject"] for message in shown] == ["blind", "copied", "first"]


def test_a_simple_message_shows_its_subject_and_body() -> None:
    sent = {
        "Source": "no-reply@session-service.localhost",
        "Destination": {"ToAddresses": ["ada@example.com"]},
        "Subject": "Hello",
        "Body": {"text_part": "plain words", "html_part": None},
        "Timestamp": "2030-01-01T00:00:00.000Z",
    }
    (message,) = messages_to("ada@example.com", [sent])
    assert (message["to"], message["subject"], message["text"], message["html"]) == (
        "ada@example.com",
        "Hello",
        "plain words",
        None,
    )


def test_the_address_is_required_and_answered_in_the_contracts_error_shape() -> None:
    # Given a mailbox whose emulator would not be asked (nothing listens on port 9)
    answer = mailbox("http://127.0.0.1:9")
    for query in ("", "to=", "to=%20", "from=ada@example.com", "to=ada"):
        # When it is asked without an address
        response = answer(query)
        # Then it answers 400 invalid_request, as the service's routes do
        assert response.status == 400, query
        assert json.loads(response.body)["error"] == "invalid_request"


def test_an_emulator_that_does_not_answer_is_a_503_with_retry_after() -> None:
    response = mailbox("http://127.0.0.1:9")("to=ada@example.com")
    assert response.status == 503
    assert json.loads(response.body)["error"] == "unavailable"
    assert ("Retry-After", "1") in response.headers


def test_the_gateway_answers_the_mailbox_route_itself_before_the_static_files() -> None:
    # Given a gateway with the demo's files and its mailbox
    asked: list[str] = []

    def answer(query: str) -> GatewayResponse:
        asked.append(query)
        return GatewayResponse(200, [], b'{"messages": []}')

    config = GatewayConfig(routes=[], authorizers={}, stage_variables={})
    config.static = {"/demo/": DEMO}
    config.local_gets = {"/demo/mailbox": answer}
    gateway = Gateway(config)
    # When the mailbox is asked for, and a file of the demo
    mailbox_answer = gateway.handle("GET", "/demo/mailbox?to=a%40b.test", [], b"", "127.0.0.1")
    page = gateway.handle("GET", "/demo/", [], b"", "127.0.0.1")
    # Then each is answered by its own
    assert (mailbox_answer.status, asked) == (200, ["to=a%40b.test"])
    assert page.status == 200
    assert b"<html" in page.body


def test_a_local_run_mails_from_a_local_sender_with_links_to_its_demo_page() -> None:
    settings = local_email_settings("http://127.0.0.1:3000", {})
    assert settings == {
        "EMAIL_SENDER": LOCAL_EMAIL_SENDER,
        "EMAIL_SIGN_IN": "on",
        "EMAIL_LINK_URL": "http://127.0.0.1:3000/demo/",
    }


def test_the_demo_links_use_the_origin_allowed_origins_names_for_this_run() -> None:
    # (passkeys need a domain: the page is then opened on localhost)
    env = {"ALLOWED_ORIGINS": "https://app.example.test,http://localhost:3000/"}
    assert demo_origin("http://127.0.0.1:3000", env) == "http://localhost:3000"
    assert demo_origin("http://127.0.0.1:3001", env) == "http://127.0.0.1:3001"
