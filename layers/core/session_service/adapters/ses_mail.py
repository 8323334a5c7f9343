"""Amazon SES v2: sends one rendered message (`SendEmail` with `Content.Raw`, a MIME
multipart/alternative of the plain text and the HTML), through the one client factory. Raw
rather than Simple: moto's SES keeps one part of a Simple message, and the local run's
mailbox shows both. Any SES failure is `Unavailable`: the mailer's retry sends it again."""

from __future__ import annotations

import functools
from collections.abc import Callable
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from session_service.adapters.aws import aws_client
from session_service.adapters.mail_rendering import RenderedMail, render
from session_service.config import Settings
from session_service.domain.email.mail import OutgoingMail, Undeliverable
from session_service.domain.errors import Unavailable
from session_service.observability import logger


@functools.cache
def sesv2_client() -> Any:
    return aws_client("sesv2")


def mime_message(sender: str, mail: OutgoingMail, rendered: RenderedMail) -> bytes:
    """The message as SES sends it: headers, then the text and the HTML as alternatives
    (a reader shows the last one it can, the HTML), with CRLF line ends. Quoted-printable
    keeps it 7-bit, whatever the values' characters, for every relay and reader."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = _recipient(mail.to)
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(usegmt=True)
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def _recipient(address: str) -> Address:
    """The To header's address, only if it reads back as exactly this address: never an
    encoded-word or a character a reader would decode into another one."""
    try:
        recipient = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        raise Undeliverable("the recipient is no address a header can carry") from None
    if recipient.addr_spec != address or not address.isascii():
        raise Undeliverable("the recipient is no address a header can carry")
    return recipient


class SesMailSender:
    """The MailSender of the deployed service: SES v2 from the configured identity."""

    def __init__(
        self,
        client: Any,
        sender: str,
        configuration_set: str = "",
        renderer: Callable[[OutgoingMail], RenderedMail] = render,
    ) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set
        self._render = renderer

    def send(self, mail: OutgoingMail) -> None:
        try:
            raw = mime_message(self._sender, mail, self._render(mail))
        except ValueError as unsendable:  # a missing value, a header that cannot be
            raise Undeliverable(str(unsendable)) from None
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [mail.to]},
            "Content": {"Raw": {"Data": raw}},
            # Which message it was, in SES's events (bounces, complaints) and metrics.
            "EmailTags": [{"Name": "template", "Value": mail.template}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            self._client.send_email(**request)
        except ClientError as error:
            # Never the address: the mail's id and template say which message it was.
            code = error.response.get("Error", {}).get("Code", "")
            logger.warning(
                "SES refused a message",
                mail_id=mail.mail_id,
                template=mail.template,
                error_code=code,
            )
            raise Unavailable(retry_after=5) from None
        except BotoCoreError as error:
            logger.warning(
                "SES unreachable",
                mail_id=mail.mail_id,
                template=mail.template,
                error=type(error).__name__,
            )
            raise Unavailable(retry_after=5) from None
        logger.info("mail sent", mail_id=mail.mail_id, template=mail.template)


def ses_mail_sender(settings: Settings) -> SesMailSender:
    """The sender the mailer sends with: EMAIL_SENDER, and EMAIL_CONFIGURATION_SET if set."""
    return SesMailSender(sesv2_client(), settings.email.sender, settings.email.configuration_set)
