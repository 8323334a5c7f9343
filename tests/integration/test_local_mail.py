"""SES in the local run: provisioning verifies the template's sender in the embedded
emulator (moto refuses an unverified one), the emulator answers GET /_aws/ses with what it
sent, and the demo's mailbox shows it, read from a running emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_run.email_identities import provision_email, sender_identities
from local_run.launcher import free_port
from local_run.lifetime import stop_process
from local_run.mailbox import mailbox
from local_run.template import ROOT, Template

# The shapes a template may give e-mail: the sender's domain as a conditional identity,
# a configuration set; or the EmailSender parameter alone.
DOCUMENT: dict[str, Any] = {
    "Parameters": {"EmailSender": {"Type": "String", "Default": ""}},
    "Conditions": {"EmailOn": {"Fn::Not": [{"Fn::Equals": [{"Ref": "EmailSender"}, ""]}]}},
    "Resources": {
        "SenderIdentity": {
            "Type": "AWS::SES::EmailIdentity",
            "Condition": "EmailOn",
            "Properties": {
                "EmailIdentity": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "EmailSender"}]}]}
            },
        },
        "MailConfigurationSet": {
            "Type": "AWS::SES::ConfigurationSet",
            "Condition": "EmailOn",
            "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-mail"}},
        },
    },
}
PARAMETER_ONLY: dict[str, Any] = {"Parameters": DOCUMENT["Parameters"], "Resources": {}}


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """The embedded emulator, as the local run starts it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_run.emulator", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("READY")
    yield f"http://127.0.0.1:{port}"
    stop_process(process, timeout=10)


def sesv2(endpoint: str, account: str = "local") -> Any:
    return boto3.client(
        "sesv2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="local",
    )


def send(client: Any, sender: str, to: str, subject: str) -> None:
    """What the mailer sends: SES v2 SendEmail with Content.Raw, text and HTML parts."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(f"Your code is 123456. {subject}")
    message.add_alternative(f"<p>Your code is <b>123456</b>. {subject}</p>", subtype="html")
    client.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": [to]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )


def unique(domain: str = "example.test") -> str:
    return f"{uuid.uuid4().hex[:12]}@{domain}"


def test_the_sender_is_verified_so_that_the_emulator_sends_from_it(emulator: str) -> None:
    # Given a template whose sender the emulator does not know: moto refuses to send
    sender = f"no-reply@{uuid.uuid4().hex[:8]}.localhost"
    client = sesv2(emulator)
    with pytest.raises(ClientError, match="MessageRejected"):
        send(client, sender, unique(), "before")
    # When the local run provisions it, e-mail on
    template = Template(DOCUMENT, {"EmailSender": sender})
    provision_email(template, lambda service: sesv2(emulator))
    # Then the sender's domain is a verified identity, Ref names it, and mail goes out
    identities = {i["IdentityName"] for i in client.list_email_identities()["EmailIdentities"]}
    assert sender.split("@")[1] in identities
    assert template.resolve({"Ref": "SenderIdentity"}) == sender.split("@")[1]
    assert template.resolve({"Ref": "MailConfigurationSet"}) == "session-service-mail"
    send(client, sender, unique(), "after")
    # And provisioning again (a run on an emulator that has them) changes nothing
    provision_email(template, lambda service: sesv2(emulator))


def test_a_sender_the_template_only_names_is_verified_as_an_address(emulator: str) -> None:
    sender = f"{uuid.uuid4().hex[:8]}@mail.example.test"
    template = Template(PARAMETER_ONLY, {"EmailSender": sender})
    assert sender_identities(template) == [sender]
    provision_email(template, lambda service: sesv2(emulator))
    send(sesv2(emulator), sender, unique(), "from the parameter's address")


def test_with_e_mail_off_nothing_is_created_and_no_client_made() -> None:
    def no_client(service: str) -> Any:
        raise AssertionError(f"a {service} client was made")

    template = Template(DOCUMENT, {"EmailSender": ""})
    assert sender_identities(template) == []
    provision_email(template, no_client)


def test_the_emulator_lists_what_it_sent_and_the_mailbox_shows_an_address_newest_first(
    emulator: str,
) -> None:
    # Given a verified sender, and messages to Ada and to someone else
    sender = f"no-reply@{uuid.uuid4().hex[:8]}.localhost"
    provision_email(Template(PARAMETER_ONLY, {"EmailSender": sender}), lambda _: sesv2(emulator))
    ada, other = unique(), unique()
    client = sesv2(emulator)
    send(client, sender, ada, "first")
    send(client, sender, other, "not Ada's")
    send(client, sender, ada, "second")
    # When the emulator's record is read
    with urllib.request.urlopen(f"{emulator}/_aws/ses", timeout=10) as answer:  # noqa: S310
        records = json.loads(answer.read())["messages"]
    # Then it holds each raw message with its time, in LocalStack's shape
    (first,) = [
        r for r in records if ada in r["Destination"]["ToAddresses"] and "first" in r["RawData"]
    ]
    assert first["Source"] == sender
    assert first["Timestamp"].endswith("Z")
    # And Ada's mailbox shows hers, newest first, with both parts
    response = mailbox(emulator)(f"to={ada.upper()}")
    assert response.status == 200
    assert ("Cache-Control", "no-store") in response.headers
    shown = json.loads(response.body)["messages"]
    assert [message["subject"] for message in shown] == ["second", "first"]
    assert shown[0]["to"] == ada
    assert shown[0]["text"] == "Your code is 123456. second\n"
    assert shown[0]["html"] == "<p>Your code is <b>123456</b>. second</p>\n"
    assert shown[0]["sent_at"] >= shown[1]["sent_at"]


def test_an_endpoint_without_the_sent_messages_route_is_a_404_not_a_crash() -> None:
    # Given an endpoint that keeps no record of what was sent (any other HTTP server)
    class NoRecord(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoRecord)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # When its mailbox is asked for
        response = mailbox(f"http://127.0.0.1:{server.server_address[1]}")("to=ada@example.test")
        # Then it says the endpoint shows no sent messages
        assert response.status == 404
        assert json.loads(response.body)["error"] == "not_found"
    finally:
        server.shutdown()
        server.server_close()
