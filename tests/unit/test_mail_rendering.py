"""Each message the service mails renders from its templates: a subject, a plain-text part
and an HTML part, every value in place (escaped in the HTML), and no message with a blank
left unfilled."""

from __future__ import annotations

import html
import re
from typing import get_args

import pytest

from local_run.template import ROOT
from session_service.adapters.mail_rendering import (
    TEMPLATE_VALUES,
    TEMPLATES_DIR,
    MissingValue,
    mail_parts,
    render,
)
from session_service.domain.email.mail import MailTemplate, OutgoingMail

TEMPLATES: tuple[MailTemplate, ...] = get_args(MailTemplate)
SUBJECTS: dict[MailTemplate, str] = {
    "verify_email": "Verify your e-mail address",
    "password_reset": "Reset your password",
    "sign_in_code": "Your sign-in code",
    "password_changed": "Your password was changed",
    "password_reset_done": "Your password was reset",
    "new_device": "New sign-in to your account",
    "factor_added": "A second factor was added to your account",
    "factor_removed": "A second factor was removed from your account",
    "factors_reset": "Your second factors were reset",
    "email_changed": "Your account's e-mail address was changed",
}
# A value of each name, each with characters HTML must escape.
VALUES = {
    "code": "123456",
    "username": "<b>ada</b> & co",
    "minutes": "15",
    "link": 'https://app.example.com/reset?x=1&y=<2>#token=abc"def',
    "at": "2026-11-29 00:30 UTC",
    "device": 'Firefox on "Linux" <x>',
    "ip": "203.0.113.10",
    "factor": "an authenticator app <TOTP>",
    "new_address": "new&<x>@example.com",
}


def mail(template: MailTemplate, **changes: str) -> OutgoingMail:
    values = {name: VALUES[name] for name in TEMPLATE_VALUES[template]} | changes
    return OutgoingMail(mail_id="m-1", to="ada@example.com", template=template, values=values)


def test_there_is_a_template_for_each_message_and_no_other() -> None:
    files = {path.name for path in TEMPLATES_DIR.iterdir() if not path.name.startswith("_")}
    expected = {f"{name}.{ext}" for name in TEMPLATES for ext in ("txt", "html")}
    assert files == expected | {"layout.html"}
    assert set(TEMPLATE_VALUES) == set(TEMPLATES) == set(SUBJECTS)


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_uses_exactly_its_documented_values(template: MailTemplate) -> None:
    assert mail_parts(template).blanks() == TEMPLATE_VALUES[template]


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_message_renders_its_subject_and_both_parts_with_every_value(
    template: MailTemplate,
) -> None:
    # When
    rendered = render(mail(template))
    # Then the subject is the template's, and each value is in the text as given
    assert rendered.subject == SUBJECTS[template]
    assert not rendered.text.startswith(("Subject", "\n"))
    assert rendered.text.endswith("\n")
    for name in TEMPLATE_VALUES[template]:
        assert VALUES[name] in rendered.text, name
    # and in the HTML escaped, never raw
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f"<title>{html.escape(SUBJECTS[template], quote=True)}</title>" in rendered.html
    for name in TEMPLATE_VALUES[template] - {"code", "minutes", "at", "ip"}:
        assert VALUES[name] not in rendered.html, name
    if "username" in TEMPLATE_VALUES[template]:
        assert "&lt;b&gt;ada&lt;/b&gt; &amp; co" in rendered.html
    assert "$" not in rendered.text + rendered.html


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_missing_value_fails_loudly(template: MailTemplate) -> None:
    for name in sorted(TEMPLATE_VALUES[template]):
        incomplete = mail(template)
        values = {k: v for k, v in incomplete.values.items() if k != name}
        expected = f"the {template} message needs a value for '{name}'"
        with pytest.raises(MissingValue, match=expected):
            render(OutgoingMail(incomplete.mail_id, incomplete.to, template, values))


def test_a_template_name_outside_the_nine_is_refused() -> None:
    with pytest.raises(ValueError, match="no mail template"):
        mail_parts("../layout")


def test_the_reset_link_is_escaped_inside_its_attribute() -> None:
    # Given a link whose query and fragment carry characters HTML must escape
    rendered = render(mail("password_reset"))
    # Then the href holds the escaped link, which a browser reads back as the link
    escaped = "https://app.example.com/reset?x=1&amp;y=&lt;2&gt;#token=abc&quot;def"
    assert f'<a href="{escaped}"' in rendered.html
    assert VALUES["link"] in rendered.text


@pytest.mark.parametrize("template", ["verify_email", "password_reset", "sign_in_code"])
def test_a_code_or_link_says_how_long_it_lasts(template: MailTemplate) -> None:
    rendered = render(mail(template, minutes="10"))
    assert "10 minutes" in rendered.text
    assert "10 minutes" in rendered.html


@pytest.mark.parametrize(
    "template",
    [t for t in TEMPLATES if t not in ("verify_email", "password_reset", "sign_in_code")],
)
def test_a_notice_says_when_and_what_to_do_if_it_was_not_you(template: MailTemplate) -> None:
    rendered = render(mail(template))
    assert VALUES["at"] in rendered.text
    assert re.search(r"If (this was not you|it was not|you did not)", rendered.text)


def test_the_sign_in_code_message_reads_as_written() -> None:
    rendered = render(mail("sign_in_code", code="042517", minutes="10"))
    assert rendered.text == (
        "Your sign-in code is:\n"
        "\n"
        "    042517\n"
        "\n"
        "Enter it on the page where you asked for it. It expires in 10 minutes\n"
        "and works once.\n"
        "\n"
        "If you did not try to sign in, ignore this message: nobody can sign in\n"
        "without the code. Never share it; we will never ask you for it.\n"
    )


def test_values_beyond_the_templates_blanks_are_not_shown() -> None:
    # An extra value (as a caller might pass the address) appears nowhere
    rendered = render(mail("sign_in_code", to_address="secret@example.com"))
    assert "secret@example.com" not in rendered.text + rendered.html


@pytest.mark.parametrize("template", TEMPLATES)
def test_text_lines_fit_a_mail_reader(template: MailTemplate) -> None:
    lines = mail_parts(template).text.template.splitlines()
    assert max(len(line) for line in lines) <= 78


def test_docs_name_each_message_with_its_subject() -> None:
    document = (ROOT / "docs" / "email.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", document, re.MULTILINE))
    assert {name: rows.get(name) for name in TEMPLATES} == SUBJECTS
