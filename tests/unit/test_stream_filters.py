"""The template's stream FilterCriteria pass exactly the changes that mean an event (a wrong
pattern would drop every SessionRevoked on AWS, silently): checked with Lambda's filtering
rules (local_run.filters, which the local stream pump applies too) against records of the
items the store writes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from local_run.expansion import deployed_template
from local_run.filters import parse_filters, passes
from session_service.adapters.client_items import client_event_item, client_item
from session_service.adapters.mail_items import mail_request_item
from session_service.adapters.store_items import (
    challenge_item,
    credential_item,
    ended_item,
    n,
    profile_item,
    session_item,
    throttle_key,
)
from session_service.adapters.stream_records import (
    account_event_item,
    decode_stream_record,
)
from session_service.domain.activity.events import events_for
from session_service.domain.email.mail import MailRequest
from session_service.domain.models import (
    AccountEvent,
    ClientEvent,
    Credential,
    EndedSessions,
    Session,
    UserProfile,
)
from session_service.domain.ports import MfaChallenge
from session_service.domain.sso.clients import OAuthClient

USER = "00000000-0000-4000-8000-000000000000"
SESSION = Session(USER, "00000000-0000-4000-8000-000000000001", 1, 1, 9, 9, "192.0.2.1", "ua")
PROFILE = profile_item(UserProfile(USER, "ada", 1))
CHANGED = {**PROFILE, "password_changed_at": n(5), "not_before": n(5)}
ENDED = ended_item(EndedSessions("r1", USER, (SESSION.session_id,), "logout", 5))
COUNTER = {**throttle_key("ip#192.0.2.1", 7), "attempts": n(1), "ttl": n(9)}
ENABLED = AccountEvent("f1", USER, "MfaEnabled", 5)
RECOVERY_USED = AccountEvent("f2", USER, "RecoveryCodeUsed", 6, remaining_recovery_codes=9)
WITH_TOTP = {
    **credential_item(Credential("ada", "ada", USER, "h")),
    "totp_secret": {"S": "v1.sealed"},
    "totp_last_step": n(8),
}
CHALLENGE = challenge_item(MfaChallenge("d", USER, "ada", 0, None, 1, 9))
CLIENT_ID = "00000000-0000-4000-8000-0000000000c1"
OAUTH_CLIENT = client_item(
    OAuthClient(CLIENT_ID, "Billing", "confidential", ("https://a.test/cb",), (), None, "d", 1, 1)
)
CLIENT_REGISTERED = client_event_item(
    ClientEvent("c1", "ClientRegistered", CLIENT_ID, "Billing", "confidential", 1)
)
CLIENT_DELETED = client_event_item(
    ClientEvent("c2", "ClientDeleted", CLIENT_ID, "Billing", "confidential", 2)
)


def record(event: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    images: dict[str, Any] = {}
    if old is not None:
        images["OldImage"] = old
    if new is not None:
        images["NewImage"] = new
    return {"eventID": "e1", "eventName": event, "dynamodb": images}


def filters_of(function: str) -> list[dict[str, Any]]:
    template = deployed_template()
    (mapping,) = [
        mapping
        for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return parse_filters(template.resolve(mapping["Properties"]["FilterCriteria"]))


def publisher_filters() -> list[dict[str, Any]]:
    return filters_of("EventPublisherFunction")


CHANGES = {
    "session started": (record("INSERT", None, session_item(SESSION)), True),
    "sessions ended": (record("INSERT", None, ENDED), True),
    "password changed": (record("MODIFY", PROFILE, CHANGED), True),
    "session refreshed": (
        record("MODIFY", session_item(SESSION), session_item(SESSION)),
        False,
    ),
    "session deleted": (record("REMOVE", session_item(SESSION), None), False),
    "ended record expired": (record("REMOVE", ENDED, None), False),
    "profile version bumped": (
        record("MODIFY", PROFILE, {**PROFILE, "session_version": n(1)}),
        False,
    ),
    "registered": (
        record("INSERT", None, credential_item(Credential("ada", "ada", USER, "h"))),
        False,
    ),
    "throttle counter": (record("INSERT", None, COUNTER), False),
    "mfa enabled": (record("INSERT", None, account_event_item(ENABLED)), True),
    "recovery code used": (record("INSERT", None, account_event_item(RECOVERY_USED)), True),
    "mfa event record expired": (record("REMOVE", account_event_item(ENABLED), None), False),
    # A credential's changes (a code's step spent, a hash replaced) never reach the
    # publisher: its images hold the password hash and the sealed secret.
    "code step spent": (record("MODIFY", WITH_TOTP, {**WITH_TOTP, "totp_last_step": n(9)}), False),
    "mfa login challenge": (record("INSERT", None, CHALLENGE), False),
    "client registered": (record("INSERT", None, CLIENT_REGISTERED), True),
    "client deleted": (record("INSERT", None, CLIENT_DELETED), True),
    "client event record expired": (record("REMOVE", CLIENT_REGISTERED, None), False),
    # A client's own item holds its secret's digest: it never reaches the publisher, which
    # hears of clients through their event records.
    "client item written": (record("INSERT", None, OAUTH_CLIENT), False),
    "client item changed": (
        record("MODIFY", OAUTH_CLIENT, {**OAUTH_CLIENT, "secret_digest": {"S": "e"}}),
        False,
    ),
    "client item deleted": (record("REMOVE", OAUTH_CLIENT, None), False),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_the_publisher_sees_exactly_the_changes_that_mean_an_event(name: str) -> None:
    change, wanted = CHANGES[name]
    assert passes(publisher_filters(), change) is wanted


def test_the_publishers_filters_fit_lambdas_default_quota() -> None:
    # Lambda takes 5 filters per event source mapping unless a quota increase is asked for
    assert len(publisher_filters()) <= 5


@pytest.mark.parametrize("name", [name for name, (_, wanted) in CHANGES.items() if wanted])
def test_every_change_that_passes_the_filter_means_an_event(name: str) -> None:
    decoded = decode_stream_record(CHANGES[name][0])
    assert decoded is not None
    assert events_for(decoded) != []


MAIL_REQUEST = mail_request_item(MailRequest("q1", "password_reset", 5, username_key="ada"))
# What Powertools' idempotency writes for a message being sent, then sent (mail_delivery)
SENT = {"pk": {"S": "MAILSENT"}, "sk": {"S": "mailer#abc"}, "status": {"S": "INPROGRESS"}}
MAILER_CHANGES = {
    "mail requested": (record("INSERT", None, MAIL_REQUEST), True),
    "request expired": (record("REMOVE", MAIL_REQUEST, None), False),
    "message being sent": (record("INSERT", None, SENT), False),
    "message sent": (record("MODIFY", SENT, {**SENT, "status": {"S": "COMPLETED"}}), False),
    "session started": (CHANGES["session started"][0], False),
    "mfa enabled": (CHANGES["mfa enabled"][0], False),
}


@pytest.mark.parametrize("name", sorted(MAILER_CHANGES))
def test_the_mailer_sees_exactly_the_new_mail_requests(name: str) -> None:
    change, wanted = MAILER_CHANGES[name]
    assert passes(filters_of("MailerFunction"), change) is wanted


def test_the_backchannel_sees_only_central_sessions_removals() -> None:
    # Given a central session's item and an API session's
    central = session_item(replace(SESSION, central=True))
    api = session_item(SESSION)
    backchannel = filters_of("BackchannelLogoutFunction")
    # Then only the central session's removal passes (an API session has no grants)
    assert passes(backchannel, record("REMOVE", central, None)) is True
    assert passes(backchannel, record("REMOVE", api, None)) is False
    assert passes(backchannel, record("INSERT", None, central)) is False


def test_the_publisher_never_sees_the_mailers_items() -> None:
    for name in ("mail requested", "message being sent", "message sent"):
        assert not passes(publisher_filters(), MAILER_CHANGES[name][0]), name
