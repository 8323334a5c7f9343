"""Unit fixtures: the domain over the in-memory store, a fixed clock, cheap argon2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness.domain import DEFAULT_POLICY, THROTTLE, Domain, build_domain
from harness.key_pool import use_pooled_keys
from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.throttling.login_throttle import ThrottlePolicy
from tests.unit.upstream_fake import NOW, Monotonic, Upstream


@pytest.fixture(autouse=True)
def _pooled_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stacks and domains take signing keys from a pool (harness/key_pool.py)."""
    use_pooled_keys(monkeypatch)


@pytest.fixture
def domain() -> Domain:
    return build_domain()


@pytest.fixture
def domain_with() -> Callable[..., Domain]:
    """A domain whose policy differs from the default in the given fields."""

    def make(
        algorithm: str = "RS256", throttle: ThrottlePolicy = THROTTLE, **changes: Any
    ) -> Domain:
        return build_domain(replace(DEFAULT_POLICY, **changes), algorithm, throttle)

    return make


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    running = Upstream()
    yield running
    running.stop()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def party(monotonic: Monotonic) -> UpstreamRelyingParty:
    return UpstreamRelyingParty(allow_loopback_http=True, clock=lambda: NOW, monotonic=monotonic)
