"""What an operator watches, counted from the same changes the events and the activity
come from (the stream's consumer, off the request path): logins that succeeded, failed or
were throttled (every way in: password, code, passkey), sessions started, sessions that
ended by reason, reuse detected, new devices. One CloudWatch metric each (EMF, namespace
POWERTOOLS_METRICS_NAMESPACE); revocations carry their reason as a dimension."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from session_service.domain.activity.activity_log import ActivityEntry
from session_service.domain.activity.events import ServiceEvent

ACTIVITY_METRICS = {
    "login_succeeded": "LoginsSucceeded",
    "login_failed": "LoginsFailed",
    "login_throttled": "LoginsThrottled",
}
EVENT_METRICS = {
    "SessionStarted": "SessionsStarted",
    "NewDeviceSignIn": "NewDeviceSignIns",
    "RefreshTokenReuseDetected": "RefreshTokenReuseDetected",
    "PasskeySignCountRegressed": "PasskeySignCountRegressed",
    "SecondFactorFailing": "SecondFactorFailing",
}
REVOKED = "SessionsRevoked"


def counts(
    entries: Iterable[ActivityEntry], events: Iterable[ServiceEvent]
) -> tuple[Counter[str], Counter[str]]:
    """The batch's counts by metric, and its revocations by reason."""
    by_metric: Counter[str] = Counter()
    revoked: Counter[str] = Counter()
    for entry in entries:
        if entry.type in ACTIVITY_METRICS:
            by_metric[ACTIVITY_METRICS[entry.type]] += 1
    for event in events:
        if event.detail_type in EVENT_METRICS:
            by_metric[EVENT_METRICS[event.detail_type]] += 1
        if event.detail_type == "SessionRevoked":
            revoked[str(event.detail.get("reason", "unknown"))] += 1
    return by_metric, revoked


def emit(entries: Iterable[ActivityEntry], events: Iterable[ServiceEvent]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

    from session_service.observability import metrics, write_single_metric  # noqa: PLC0415

    by_metric, revoked = counts(entries, events)
    for name, value in sorted(by_metric.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for reason, value in sorted(revoked.items()):
        write_single_metric(REVOKED, value, {"reason": reason})
