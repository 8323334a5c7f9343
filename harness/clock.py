"""A clock that moves only when told to, and a key ring without Secrets Manager: what
the unit tests and the benchmarks run the domain on."""

from __future__ import annotations

import time
from typing import Any

from session_service.domain.keys.key_rotation import (
    new_refresh_token_key,
    rotated_secret,
    rotation_times,
)
from session_service.domain.keys.keyring import KeyRingSource

# The template's defaults: 600 s access tokens, a 300 s key cache, 30-day sessions.
ROTATION_TIMES = rotation_times(600, 300, 2_592_000)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def key_ring_source(
    algorithm: str = "RS256", clock: Any = time.time
) -> tuple[KeyRingSource, dict[str, Any]]:
    """A new stack's ring after its first rotation, fixed (no Secrets Manager)."""
    fresh = {"refresh_token_key": new_refresh_token_key(), "signing_keys": []}
    secret = rotated_secret(fresh, algorithm, clock(), ROTATION_TIMES)  # type: ignore[arg-type]
    return KeyRingSource(lambda _force: secret, clock=clock), secret
