"""The backends the store suites run on, and the throttle room their bursts need."""

from __future__ import annotations

import dataclasses

from harness.domain import THROTTLE

# The DynamoDB implementations behind the stores: moto's, and AWS's own DynamoDB Local.
BACKENDS = ("moto", "dynamodb-local")

# Every right password holds a throttle place while it is checked: a burst of one user's
# logins from one address needs as many places as it has logins.
ROOM_FOR_BURSTS = dataclasses.replace(THROTTLE, failures_per_username_and_ip=12)
