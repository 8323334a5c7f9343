"""What the table's stream carries besides sessions and profiles: the records of failed
and throttled logins, of account events (a factor changed, an account disabled, a second
factor failing), each written with what it records and read by no request; and the
decoding of the stream's records into domain changes (the publisher's input)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from session_service.adapters.client_items import client_event_from_item
from session_service.adapters.store_items import (
    ENDED_RECORD_SECONDS,
    Item,
    account_event_key,
    ended_from_item,
    int_of,
    key,
    n,
    opt_int_of,
    opt_str_of,
    profile_from_item,
    s,
    session_from_item,
    str_of,
    ttl_seconds,
)
from session_service.domain.activity.events import StreamChange
from session_service.domain.models import AccountEvent, AccountEventType, LoginAttempt


def login_attempt_item(attempt: LoginAttempt) -> Item:
    if not attempt.user_id:
        # An unknown username's: the same write, nothing a user (or the stream) reads.
        return {
            **key(f"ATTEMPT#{attempt.record_id}", "ATTEMPT"),
            "kind": s("unattributed_attempt"),
            "ttl": n(ttl_seconds(attempt.at) + ENDED_RECORD_SECONDS),
        }
    return {
        **key(f"ATTEMPT#{attempt.record_id}", "ATTEMPT"),
        "kind": s("login_attempt"),
        "user_id": s(attempt.user_id),
        "at": n(attempt.at),
        "ip": s(attempt.ip),
        "user_agent": s(attempt.user_agent),
        "throttled": {"BOOL": attempt.throttled},
        "ttl": n(ttl_seconds(attempt.at) + ENDED_RECORD_SECONDS),
    }


def login_attempt_from_item(item: Item) -> LoginAttempt:
    return LoginAttempt(
        record_id=str_of(item, "pk").removeprefix("ATTEMPT#"),
        user_id=str_of(item, "user_id"),
        at=int_of(item, "at"),
        ip=str_of(item, "ip"),
        user_agent=str_of(item, "user_agent"),
        throttled=bool(item["throttled"]["BOOL"]),
    )


def account_event_item(event: AccountEvent) -> Item:
    item: Item = {
        **account_event_key(event.record_id),
        "kind": s("account_event"),
        "user_id": s(event.user_id),
        "event_type": s(event.event_type),
        "at": n(event.at),
        "ttl": n(ttl_seconds(event.at) + ENDED_RECORD_SECONDS),
    }
    if event.remaining_recovery_codes is not None:
        item["remaining_recovery_codes"] = n(event.remaining_recovery_codes)
    if event.passkey_id is not None:
        item["passkey_id"] = s(event.passkey_id)
    if event.ip:
        item["ip"] = s(event.ip)
        item["user_agent"] = s(event.user_agent)
    if event.reason is not None:
        item["reason"] = s(event.reason)
    if event.failures is not None:
        item["failures"] = n(event.failures)
    if event.client_id is not None:
        item["client_id"] = s(event.client_id)
    if event.session_id is not None:
        item["session_id"] = s(event.session_id)
    if event.provider_id is not None:
        item["provider_id"] = s(event.provider_id)
    if event.identity_id is not None:
        item["identity_id"] = s(event.identity_id)
    return item


def account_event_from_item(item: Item) -> AccountEvent:
    event_type: AccountEventType = str_of(item, "event_type")  # type: ignore[assignment]
    return AccountEvent(
        record_id=str_of(item, "pk").removeprefix("ACCOUNT_EVENT#"),
        user_id=str_of(item, "user_id"),
        event_type=event_type,
        at=int_of(item, "at"),
        remaining_recovery_codes=opt_int_of(item, "remaining_recovery_codes"),
        passkey_id=opt_str_of(item, "passkey_id"),
        ip=opt_str_of(item, "ip") or "",
        user_agent=opt_str_of(item, "user_agent") or "",
        reason=opt_str_of(item, "reason"),
        failures=opt_int_of(item, "failures"),
        client_id=opt_str_of(item, "client_id"),
        session_id=opt_str_of(item, "session_id"),
        provider_id=opt_str_of(item, "provider_id"),
        identity_id=opt_str_of(item, "identity_id"),
    )


# -- the table's stream ------------------------------------------------------------------


def decode_stream_record(record: Mapping[str, Any]) -> StreamChange | None:
    """Sessions, profiles, ended-session records, account and client events from a
    DynamoDB stream record; None for other items (credentials, OAuth clients, throttle
    counters, challenges)."""
    images = record.get("dynamodb", {})
    old, new = images.get("OldImage"), images.get("NewImage")
    kind = str((new or old or {}).get("kind", {}).get("S", ""))
    event_id = str(record.get("eventID", ""))
    if kind == "session":
        return StreamChange(
            event_id=event_id,
            kind=kind,
            old_session=session_from_item(old) if old else None,
            new_session=session_from_item(new) if new else None,
        )
    if kind == "user":
        return StreamChange(
            event_id=event_id,
            kind=kind,
            old_profile=profile_from_item(old) if old else None,
            new_profile=profile_from_item(new) if new else None,
        )
    if new and not old:
        return _inserted_record(event_id, kind, new)
    return None


def _inserted_record(event_id: str, kind: str, new: Item) -> StreamChange | None:
    """A record written once, whose insertion is what the stream carries."""
    if kind == "account_event":
        return StreamChange(
            event_id=event_id, kind=kind, account_event=account_event_from_item(new)
        )
    if kind == "login_attempt":
        attempt = login_attempt_from_item(new)
        return StreamChange(event_id=event_id, kind=kind, login_attempt=attempt)
    if kind == "ended":
        return StreamChange(event_id=event_id, kind=kind, ended=ended_from_item(new))
    if kind == "client_event":
        return StreamChange(event_id=event_id, kind=kind, client_event=client_event_from_item(new))
    return None
