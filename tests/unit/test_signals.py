"""What an operator watches is counted from the stream's changes and their events."""

from __future__ import annotations

from collections import Counter

from session_service.domain.activity.activity_log import ActivityEntry
from session_service.domain.activity.events import ServiceEvent
from session_service.domain.activity.signals import counts

USER = "00000000-0000-4000-8000-000000000000"


def test_a_batch_counts_logins_by_outcome_and_revocations_by_reason() -> None:
    entries = [
        ActivityEntry(USER, "a", "login_succeeded", 1),
        ActivityEntry(USER, "b", "login_failed", 2),
        ActivityEntry(USER, "c", "login_failed", 3),
        ActivityEntry(USER, "d", "login_throttled", 4),
        ActivityEntry(USER, "e", "password_changed", 5),
    ]
    events = [
        ServiceEvent("SessionStarted", {}),
        ServiceEvent("NewDeviceSignIn", {}),
        ServiceEvent("SessionRevoked", {"reason": "evicted"}),
        ServiceEvent("SessionRevoked", {"reason": "reuse_detected"}),
        ServiceEvent("RefreshTokenReuseDetected", {}),
        ServiceEvent("SessionRevoked", {"reason": "evicted"}),
        ServiceEvent("PasswordChanged", {}),
    ]
    by_metric, revoked = counts(entries, events)
    assert by_metric == Counter(
        {
            "LoginsSucceeded": 1,
            "LoginsFailed": 2,
            "LoginsThrottled": 1,
            "SessionsStarted": 1,
            "NewDeviceSignIns": 1,
            "RefreshTokenReuseDetected": 1,
        }
    )
    assert revoked == Counter({"evicted": 2, "reuse_detected": 1})
