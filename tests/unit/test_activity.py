"""A user's security activity from the table's changes, and new devices: what the stream's
consumer records, off the request path."""

from __future__ import annotations

from harness.memory_activity import InMemoryActivityStore
from session_service.domain.activity.activity_log import ActivityRecorder, activity_of, device_of
from session_service.domain.activity.events import StreamChange, events_for
from session_service.domain.models import (
    AccountEvent,
    EndedSessions,
    LoginAttempt,
    Session,
    rfc3339,
)

USER = "00000000-0000-4000-8000-000000000000"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"


def started(event_id: str, ip: str, user_agent: str, at: int = 1_000) -> StreamChange:
    session = Session(USER, f"s-{event_id}", at, at, at + 9, at + 9, ip, user_agent)
    return StreamChange(event_id=event_id, kind="session", new_session=session)


def test_each_change_is_its_activity() -> None:
    attempt = LoginAttempt("a1", USER, 5, "198.51.100.9", LAPTOP, throttled=False)
    throttled = LoginAttempt("a2", USER, 6, "198.51.100.9", LAPTOP, throttled=True)
    ended = EndedSessions("r1", USER, ("s1", "s2"), "admin", 7)
    reused = EndedSessions("r2", USER, ("s3",), "reuse_detected", 8)
    disabled = AccountEvent("e1", USER, "AccountDisabled", 9)
    changes = [
        started("c0", "203.0.113.7", PHONE),
        StreamChange(event_id="c1", kind="login_attempt", login_attempt=attempt),
        StreamChange(event_id="c2", kind="login_attempt", login_attempt=throttled),
        StreamChange(event_id="c3", kind="ended", ended=ended),
        StreamChange(event_id="c4", kind="ended", ended=reused),
        StreamChange(event_id="c5", kind="account_event", account_event=disabled),
    ]
    entries = [entry for change in changes for entry in activity_of(change)]
    assert [(e.type, e.reason) for e in entries] == [
        ("login_succeeded", None),
        ("login_failed", None),
        ("login_throttled", None),
        ("session_revoked", "admin"),
        ("session_revoked", "admin"),
        ("refresh_token_reuse_detected", "reuse_detected"),
        ("account_disabled", None),
    ]
    assert (entries[0].ip, entries[0].user_agent, entries[0].session_id) == (
        "203.0.113.7",
        PHONE,
        "s-c0",
    )
    assert (entries[1].ip, entries[1].user_agent) == ("198.51.100.9", LAPTOP)


def test_a_passkeys_changes_and_its_refused_sign_in_are_activity_and_events() -> None:
    added = AccountEvent("e2", USER, "PasskeyAdded", 10, passkey_id="pk1")
    removed = AccountEvent("e3", USER, "PasskeyRemoved", 11, passkey_id="pk1")
    regressed = AccountEvent(
        "e4",
        USER,
        "PasskeySignCountRegressed",
        12,
        passkey_id="pk1",
        ip="198.51.100.9",
        user_agent=LAPTOP,
    )
    changes = [
        StreamChange(event_id=f"c{i}", kind="account_event", account_event=event)
        for i, event in enumerate((added, removed, regressed))
    ]
    entries = [entry for change in changes for entry in activity_of(change)]
    assert [(e.type, e.reason, e.ip) for e in entries] == [
        ("passkey_added", None, ""),
        ("passkey_removed", None, ""),
        ("login_failed", "passkey_sign_count_regressed", "198.51.100.9"),
    ]
    events = [event for change in changes for event in events_for(change)]
    assert [(e.detail_type, e.detail) for e in events] == [
        (
            "PasskeyAdded",
            {"event_id": "c0", "user_id": USER, "passkey_id": "pk1", "added_at": rfc3339(10)},
        ),
        (
            "PasskeyRemoved",
            {"event_id": "c1", "user_id": USER, "passkey_id": "pk1", "removed_at": rfc3339(11)},
        ),
        (
            "PasskeySignCountRegressed",
            {
                "event_id": "c2",
                "user_id": USER,
                "passkey_id": "pk1",
                "detected_at": rfc3339(12),
                "ip": "198.51.100.9",
                "user_agent": LAPTOP,
            },
        ),
    ]


def test_a_device_is_its_browser_platform_and_network() -> None:
    assert device_of("203.0.113.7", PHONE) == device_of("203.0.113.200", PHONE)
    assert device_of("203.0.113.7", PHONE) != device_of("203.0.114.7", PHONE)
    assert device_of("203.0.113.7", PHONE) != device_of("203.0.113.7", LAPTOP)
    assert device_of("2001:db8:1:2::1", LAPTOP) == device_of("2001:db8:1:9::5", LAPTOP)
    assert device_of("2001:db8:1:2::1", LAPTOP) != device_of("2001:db8:2:2::1", LAPTOP)
    assert device_of("not an address", LAPTOP) == device_of("unknown", LAPTOP)


def test_a_sign_in_from_a_device_unseen_within_the_retention_is_a_new_device() -> None:
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    first = recorder.record([started("c1", "203.0.113.7", PHONE)])
    again = recorder.record([started("c2", "203.0.113.99", PHONE, at=2_000)])
    elsewhere = recorder.record([started("c3", "198.51.100.7", PHONE, at=3_000)])
    day = 86_400_000
    much_later = recorder.record([started("c4", "203.0.113.7", PHONE, at=3_000 + 91 * day)])
    assert [len(first), len(again), len(elsewhere), len(much_later)] == [1, 0, 1, 1]
    (event,) = first
    assert event.detail_type == "NewDeviceSignIn"
    assert event.detail == {
        "event_id": "c1:device",
        "user_id": USER,
        "session_id": "s-c1",
        "ip": "203.0.113.7",
        "user_agent": PHONE,
    }
    kinds = [e.type for e in store.page(USER, 20, None).entries]
    assert kinds.count("new_device") == 3
    assert kinds.count("login_succeeded") == 4


def test_a_replayed_batch_finds_its_new_device_again_and_writes_the_same_entries() -> None:
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    batch = [started("c1", "203.0.113.7", PHONE)]
    assert len(recorder.record(batch)) == 1
    assert len(recorder.record(batch)) == 1  # the first attempt failed after writing
    assert len(store.entries) == 2  # login_succeeded and new_device, once each


def test_activity_is_paged_newest_first() -> None:
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    recorder.record([started(f"c{i}", "203.0.113.7", PHONE, at=1_000 + i) for i in range(5)])
    first = store.page(USER, 3, None)
    assert [e.at for e in first.entries] == [1_004, 1_003, 1_002]
    assert first.next_cursor is not None
    rest = store.page(USER, 10, first.next_cursor)
    # (the first sign-in was a new device: two entries of one moment)
    assert [e.at for e in rest.entries] == [1_001, 1_000, 1_000]
    assert rest.next_cursor is None


def test_activity_shows_a_browser_and_platform_never_the_header_itself() -> None:
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    headers = [
        PHONE,
        LAPTOP,
        "Mozilla/5.0 (Windows NT 10.0) Chrome/130.0 Edg/130.0",
        "Your account is compromised: call +1 555 0100 now (Chrome on Windows)",
        "Call +1 555 0100",
    ]
    attempts = [
        LoginAttempt(f"a{i}", USER, 10 + i, "198.51.100.9", header, throttled=False)
        for i, header in enumerate(headers)
    ]
    recorder.record(
        [StreamChange(f"c{i}", "login_attempt", login_attempt=a) for i, a in enumerate(attempts)]
    )
    shown = [e.user_agent for e in reversed(store.page(USER, 10, None).entries)]
    assert shown == [
        "Safari on iOS",
        "Chrome on Linux",
        "Edge on Windows",
        "Chrome on Windows",
        "Other",
    ]


def test_a_flood_of_failed_logins_adds_20_entries_a_window_and_the_users_own_still_show() -> None:
    # Given 50 failed and throttled logins of one user in one window, and a sign-in
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    flood = [
        StreamChange(
            f"c{i}",
            "login_attempt",
            login_attempt=LoginAttempt(
                f"a{i}", USER, 1_000 + i, "198.51.100.9", LAPTOP, i % 2 == 0
            ),
        )
        for i in range(50)
    ]
    recorder.record([*flood[:25], started("s1", "203.0.113.7", PHONE, at=1_030), *flood[25:]])
    # Then 20 of the attempts are recorded, and the sign-in (and its new device) too
    kinds = [e.type for e in store.page(USER, 100, None).entries]
    assert len([k for k in kinds if k in ("login_failed", "login_throttled")]) == 20
    assert kinds.count("login_succeeded") == kinds.count("new_device") == 1
    # and the next window has room again
    later = LoginAttempt("late", USER, 1_000 + 900_000, "198.51.100.9", LAPTOP, throttled=False)
    recorder.record([StreamChange("c-late", "login_attempt", login_attempt=later)])
    assert len(store.page(USER, 100, None).entries) == 23


def test_a_failing_second_factor_is_activity_and_an_event() -> None:
    failing = AccountEvent(
        "f1",
        USER,
        "SecondFactorFailing",
        1_000,
        ip="198.51.100.9",
        user_agent=LAPTOP,
        reason="totp_locked",
        failures=100,
    )
    change = StreamChange(event_id="c1", kind="account_event", account_event=failing)
    (entry,) = activity_of(change)
    assert (entry.type, entry.reason) == ("second_factor_failing", "totp_locked")
    (event,) = events_for(change)
    assert (event.detail_type, event.detail) == (
        "SecondFactorFailing",
        {
            "event_id": "c1",
            "user_id": USER,
            "ip": "198.51.100.9",
            "user_agent": LAPTOP,
            "reason": "totp_locked",
            "failures": 100,
            "detected_at": rfc3339(1_000),
        },
    )
