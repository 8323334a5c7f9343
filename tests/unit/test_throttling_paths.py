"""The login throttle where it meets other paths: a disabled account's work, IPv6
clients, registrations, confirming an enrollment, and what throttled attempts cost (the
writes an attacker's requests make, the entries they leave in a victim's activity)."""

from __future__ import annotations

import threading
from collections import Counter

from harness.domain import CLIENT, Domain
from harness.memory_activity import InMemoryActivityStore
from session_service.domain.activity.activity_log import ActivityRecorder
from session_service.domain.activity.events import StreamChange
from session_service.domain.throttling.login_throttle import client_address
from tests.helpers import (
    burst,
    factor_change,
    outcome,
    register_and_login,
    totp_code,
)
from tests.unit.throttle_helpers import WRONG, CountingVerifier, attempt


def test_a_disabled_account_costs_argon2_like_every_other_answer(domain: Domain) -> None:
    # Given a disabled account, and a verifier that counts argon2's work
    user_id = register_and_login(domain).session.user_id
    domain.administration.disable(user_id)
    verifier = CountingVerifier(domain)
    # When its right password, a wrong one, and an unknown user's are tried
    outcomes = [attempt(domain, password=p) for p in ("correct horse", WRONG)]
    outcomes.append(attempt(domain, "ghost"))
    # Then each is the same refusal, after the same work
    assert outcomes == ["InvalidGrant"] * 3
    assert verifier.count == 3


def test_an_ipv6_client_counts_by_its_64(domain: Domain) -> None:
    # Five failures from five addresses of one /64 fill the username's scope there
    for host in range(1, 6):
        assert attempt(domain, ip=f"2001:db8:1:2::{host}") == "InvalidGrant"
    assert attempt(domain, ip="2001:db8:1:2:ffff:ffff:ffff:ffff") == "RateLimited"
    # while the next /64 is another address
    assert attempt(domain, ip="2001:db8:1:3::1") == "InvalidGrant"
    assert domain.store.held("ip#2001:db8:1:2::/64") == 5
    # and an IPv4-mapped address counts as its IPv4 one
    assert client_address("::ffff:203.0.113.7") == client_address("203.0.113.7") == "203.0.113.7"


def test_a_burst_of_registrations_from_one_address_creates_exactly_20(domain: Domain) -> None:
    verifier = CountingHasher(domain)
    outcomes = burst(
        30,
        lambda index: outcome(lambda: domain.accounts.register(f"new{index}", WRONG, "192.0.2.9")),
    )
    assert outcomes == Counter({"ok": 20, "RateLimited": 10})
    assert verifier.count == 20
    # and another address is not held by it
    domain.accounts.register("elsewhere", WRONG, "192.0.2.10")


def test_confirming_totp_counts_under_the_lifted_name(domain: Domain) -> None:
    # Given a username whose failures filled its scope at this address, then lifted
    issued = register_and_login(domain)
    for _ in range(5):
        attempt(domain)
    assert attempt(domain) == "RateLimited"
    domain.administration.lift_login_lock(issued.session.user_id)
    # When the owner confirms a TOTP enrollment from that address
    change = factor_change(issued)
    setup = domain.second_factors.begin_totp(change)
    code = totp_code(setup.secret, domain.clock())
    codes = domain.accounts.confirm_totp(change, issued.session.session_id, code, CLIENT)
    # Then it is judged (the lifted name's counters are fresh), and TOTP is on
    assert len(codes) == 10


class CountingHasher:
    """Counts the passwords argon2 hashes (a registration's work)."""

    def __init__(self, domain: Domain) -> None:
        self.count = 0
        self._lock = threading.Lock()
        hash_password = domain.passwords.hash

        def counted_hash(password: str) -> str:
            with self._lock:
                self.count += 1
            return hash_password(password)

        domain.passwords.hash = counted_hash  # type: ignore[method-assign]


def test_a_thousand_throttled_logins_against_one_user_cost_four_writes_and_one_entry(
    domain: Domain,
) -> None:
    # Given a user whose username's ceiling is full (100 wrong passwords from 20 addresses)
    register_and_login(domain)
    for index in range(100):
        assert attempt(domain, ip=f"192.0.2.{index % 20}") == "InvalidGrant"
    calls, records, counters = (
        len(domain.store.calls),
        len(domain.store.login_attempts),
        len(domain.store.attempts),
    )
    # When 1,000 more logins come from 200 other addresses
    outcomes = Counter(attempt(domain, ip=f"198.18.{index % 200}.1") for index in range(1000))
    # Then all are refused unjudged, and cost the first one's writes only (its address's
    # place taken and given back, the username's places refused together, and the record
    # of it): nothing after it
    assert outcomes == Counter({"RateLimited": 1000})
    writes = Counter(
        call
        for call in domain.store.calls[calls:]
        if call in ("reserve", "reserve_together", "release", "reset", "record_login_attempt")
    )
    assert writes == Counter(
        {"reserve": 1, "reserve_together": 1, "release": 1, "record_login_attempt": 1}
    )
    # one record (the counter of the first refused address aside), one activity entry
    assert len(domain.store.login_attempts) - records == 1
    assert len(domain.store.attempts) - counters == 1
    store = InMemoryActivityStore()
    recorder = ActivityRecorder(store, retention_days=90, window_seconds=900)
    recorder.record(
        [
            StreamChange(a.record_id, "login_attempt", login_attempt=a)
            for a in domain.store.login_attempts[records:]
        ]
    )
    assert [e.type for e in store.entries.values()] == ["login_throttled"]


def test_a_spray_across_usernames_from_a_full_address_costs_one_write_each(
    domain: Domain,
) -> None:
    # Given an address whose window is full (50 failures across usernames)
    for index in range(50):
        assert attempt(domain, f"user{index}") == "InvalidGrant"
    calls, records = len(domain.store.calls), len(domain.store.login_attempts)
    # When 1,000 more usernames are tried from it
    outcomes = Counter(attempt(domain, f"sprayed{index}") for index in range(1000))
    # Then each is refused at its one refused reservation, and nothing is recorded
    assert outcomes == Counter({"RateLimited": 1000})
    assert Counter(domain.store.calls[calls:]) == Counter(
        {"find_credential": 1000, "reserve": 1000}
    )
    assert len(domain.store.login_attempts) == records
