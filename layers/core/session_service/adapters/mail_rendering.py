"""Renders an OutgoingMail from its templates in adapters/mail_templates/: `<name>.txt`, whose
first line is `Subject: ...`, and `<name>.html`, set in `layout.html`. Their blanks
(string.Template's `$code`, `$link`, ...) are filled with the mail's values, HTML-escaped in
the HTML part; a blank the values leave empty fails loudly, never sends a message with a
hole in it."""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import get_args

from session_service.domain.email.mail import MailTemplate, OutgoingMail

TEMPLATES_DIR = Path(__file__).with_name("mail_templates")
_SUBJECT = "Subject: "

# The values each message needs (docs/email.md): the blanks of its subject, text and HTML.
# Times (`at`) are written out for a reader ("2026-11-29 00:30 UTC"), `minutes` is how long
# a code or link lasts, `factor` names one ("an authenticator app", "a passkey").
TEMPLATE_VALUES: Mapping[MailTemplate, frozenset[str]] = {
    # Sent to an address nobody has verified yet: nothing the requester chose (a
    # username) goes in it, so that it cannot carry their words to a stranger.
    "verify_email": frozenset({"code", "minutes"}),
    "password_reset": frozenset({"link", "username", "minutes"}),
    "sign_in_code": frozenset({"code", "minutes"}),
    "password_changed": frozenset({"username", "at"}),
    "password_reset_done": frozenset({"username", "at"}),
    "new_device": frozenset({"username", "at", "device", "ip"}),
    "factor_added": frozenset({"username", "at", "factor"}),
    "factor_removed": frozenset({"username", "at", "factor"}),
    "factors_reset": frozenset({"username", "at"}),
    "email_changed": frozenset({"username", "at", "new_address"}),
}


class MissingValue(ValueError):
    """A blank of the template that the mail's values do not fill."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class MailParts:
    """One message's templates, as read from its files."""

    subject: Template
    text: Template
    html: Template

    def blanks(self) -> set[str]:
        return {
            name for part in (self.subject, self.text, self.html) for name in part.get_identifiers()
        }


@functools.cache
def mail_parts(name: MailTemplate) -> MailParts:
    """The templates of one message (read once per container)."""
    if name not in get_args(MailTemplate):
        raise ValueError(f"no mail template {name!r}")
    first, _, text = _read(f"{name}.txt").partition("\n")
    if not first.startswith(_SUBJECT):
        raise ValueError(f"{name}.txt must start with a {_SUBJECT!r} line")
    return MailParts(
        subject=Template(first.removeprefix(_SUBJECT).strip()),
        text=Template(text.lstrip("\n")),
        html=Template(_read(f"{name}.html")),
    )


@functools.cache
def _layout() -> Template:
    return Template(_read("layout.html"))


def _read(file_name: str) -> str:
    return (TEMPLATES_DIR / file_name).read_text(encoding="utf-8")


def render(mail: OutgoingMail) -> RenderedMail:
    """The message's subject, plain text and HTML page, its blanks filled."""
    parts = mail_parts(mail.template)
    values = dict(mail.values)
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    try:
        subject = parts.subject.substitute(values)
        text = parts.text.substitute(values)
        content = parts.html.substitute(escaped)
    except KeyError as missing:
        raise MissingValue(
            f"the {mail.template} message needs a value for {missing.args[0]!r}"
        ) from None
    page = _layout().substitute(subject=html.escape(subject, quote=True), content=content)
    return RenderedMail(subject=subject, text=text, html=page)
