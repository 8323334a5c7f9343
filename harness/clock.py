"""A clock that moves only when told to, and a key ring without Secrets Manager: what
the unit tests and the benchmarks run the domain on."""

from __future__ import annotations

import time
from typing import Any

from session_service.domain.keyring import (
    KeyRingSource,
    generate_signing_key,
    new_refresh_token_key,
)


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
    secret: dict[str, Any] = {
        "refresh_token_key": new_refresh_token_key(),
        "signing_keys": [generate_signing_key(algorithm, clock())],  # type: ignore[arg-type]
    }
    return KeyRingSource(lambda _force: secret, clock=clock), secret
