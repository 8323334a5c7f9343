"""The backends the store suites run on, and the throttle room their bursts need."""

from __future__ import annotations

import dataclasses

from harness.domain import THROTTLE

# The DynamoDB implementations behind the stores: moto's, and AWS's own DynamoDB Local.
BACKENDS = ("moto", "dynamodb-local")

# Every right password holds a throttle place while it is checked: a burst of one user's
# logins from one address needs as many places as it has logins (and a burst of one
# session's step-ups as many of the session's).
ROOM_FOR_BURSTS = dataclasses.replace(
    THROTTLE, failures_per_username_and_ip=12, step_up_failures_per_session=12
)
