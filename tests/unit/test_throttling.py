"""Brute-force throttling with a fixed clock: places reserved before argon2 runs, per
username and IP, per username, per IP and per known device; bursts judged exactly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import RateLimited, ServiceError
from session_service.domain.models import ClientInfo
from tests.helpers import (
    burst,
    change_password,
    login_as,
    register_and_login,
)
from tests.unit.throttle_helpers import WRONG, CountingVerifier, attempt

# -- bursts ------------------------------------------------------------------------------


def test_a_burst_of_24_wrong_logins_has_exactly_5_passwords_checked(domain: Domain) -> None:
    # Given a user, and a verifier that counts argon2's work
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    verifier = CountingVerifier(domain)
    # When 24 wrong logins for the name arrive at once from one address
    outcomes = burst(24, lambda _: attempt(domain))
    # Then exactly the limit was judged, the rest refused unjudged
    assert outcomes == Counter({"InvalidGrant": 5, "RateLimited": 19})
    assert verifier.count == 5


def test_a_burst_for_an_unknown_name_is_judged_exactly_like_a_known_one(domain: Domain) -> None:
    verifier = CountingVerifier(domain)
    outcomes = burst(24, lambda _: attempt(domain, "ghost"))
    assert outcomes == Counter({"InvalidGrant": 5, "RateLimited": 19})
    assert verifier.count == 5


def test_a_burst_across_many_names_from_one_address_stops_at_the_ip_limit(
    domain: Domain,
) -> None:
    verifier = CountingVerifier(domain)
    outcomes = burst(80, lambda index: attempt(domain, f"user{index}"))
    assert outcomes == Counter({"InvalidGrant": 50, "RateLimited": 30})
    assert verifier.count == 50


def test_a_burst_across_many_addresses_stops_at_the_username_limit(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with()
    verifier = CountingVerifier(domain)
    outcomes = burst(
        130, lambda index: attempt(domain, "ada", ip=f"198.51.{index // 250}.{index % 250}")
    )
    assert outcomes == Counter({"InvalidGrant": 100, "RateLimited": 30})
    assert verifier.count == 100


def test_a_burst_of_wrong_current_passwords_has_exactly_5_checked(domain: Domain) -> None:
    issued = register_and_login(domain)
    verifier = CountingVerifier(domain)

    def change(_: int) -> str:
        try:
            change_password(domain, issued, WRONG, "a new passphrase")
        except ServiceError as error:
            return type(error).__name__
        return "ok"

    # The wrong one that reached the session's fifth place ended it
    outcomes = burst(24, change)
    assert outcomes == Counter({"InvalidGrant": 4, "InvalidToken": 1, "RateLimited": 19})
    assert verifier.count == 5


# -- the rule, one attempt at a time -------------------------------------------------------


def test_after_the_limit_even_the_right_password_waits_for_the_window(domain: Domain) -> None:
    # Given five failures for one username from one address
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    assert [attempt(domain) for _ in range(5)] == ["InvalidGrant"] * 5
    # Then the right password is refused unjudged, until the fixed window ends
    with pytest.raises(RateLimited) as refused:
        login_as(domain)
    window_end = (int(domain.clock.now) // 900 + 1) * 900
    assert refused.value.retry_after == window_end - int(domain.clock.now)
    domain.clock.advance(refused.value.retry_after)
    login_as(domain)


def test_refused_attempts_count_nowhere(domain: Domain) -> None:
    for _ in range(5):
        attempt(domain, "nobody")
    for _ in range(20):
        assert attempt(domain, "nobody") == "RateLimited"
    assert domain.store.held("user-ip#nobody#203.0.113.7") == 5
    assert domain.store.held("user#nobody") == 5
    assert domain.store.held("ip#203.0.113.7") == 5


def test_a_successful_login_gives_its_place_back(domain: Domain) -> None:
    # Four typos and a success leave the four failures counted, and the success not
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    for _ in range(4):
        attempt(domain)
    login_as(domain)
    assert domain.store.held("user-ip#ada#203.0.113.7") == 4
    assert domain.store.held("ip#203.0.113.7") == 4
    assert attempt(domain) == "InvalidGrant"
    assert attempt(domain) == "RateLimited"


def test_many_right_logins_from_one_address_never_fill_it(domain: Domain) -> None:
    # An office behind one address (its people registered elsewhere): successes hold no
    # place once they are done
    for index in range(60):
        domain.accounts.register(f"user{index}", "correct horse", f"198.51.100.{index}")
        login_as(domain, f"user{index}")
    assert domain.store.held("ip#203.0.113.7") == 0


def test_another_address_is_not_held_by_an_address_full_of_failures(domain: Domain) -> None:
    for index in range(50):
        attempt(domain, f"user{index}")
    assert attempt(domain, "someone") == "RateLimited"
    assert attempt(domain, "someone", ip="192.0.2.1") == "InvalidGrant"


def test_a_session_limit_refusal_gives_the_place_back(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(max_sessions_per_user=1, limit_policy="reject")
    register_and_login(domain)
    with pytest.raises(ServiceError, match="maximum number of active sessions"):
        login_as(domain)
    assert domain.store.held("user-ip#ada#203.0.113.7") == 0


# -- known devices ---------------------------------------------------------------------------


def distributed_attack(domain: Domain, username: str = "ada", failures: int = 100) -> None:
    """Wrong passwords for the username, each from an address of its own."""
    for index in range(failures):
        assert attempt(domain, username, ip=f"198.51.{index // 200}.{index % 200}") == (
            "InvalidGrant"
        )


def test_the_owners_device_logs_in_while_many_addresses_attack(domain: Domain) -> None:
    # Given the owner signed in once from home, and keeps the device token
    home = ClientInfo(ip="192.0.2.7", user_agent="owner's laptop")
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    device_token = login_as(domain, client=home).device
    assert device_token is not None
    # When a distributed attack spends the username's failures across all addresses
    distributed_attack(domain)
    assert attempt(domain, ip="203.0.113.200") == "RateLimited"
    # Then a login without the token is held, even from home
    with pytest.raises(RateLimited):
        login_as(domain, client=home)
    # But the owner's device logs in, and stays the same device
    again = login_as(domain, client=home, device_token=device_token.value)
    assert again.device is not None
    assert again.device.device_id == device_token.device_id


def test_a_known_device_still_counts_toward_its_address(domain: Domain) -> None:
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    token = login_as(domain).device
    assert token is not None
    outcomes = [attempt(domain, device_token=token.value) for _ in range(6)]
    assert outcomes == ["InvalidGrant"] * 5 + ["RateLimited"]
    # its failures do not count toward the username's ceiling across all addresses
    assert domain.store.held("user#ada") == 0
    assert domain.store.held("ip#203.0.113.7") == 5


def test_the_owner_under_attack_can_still_change_the_password(domain: Domain) -> None:
    issued = register_and_login(domain)
    distributed_attack(domain)
    change_password(domain, issued, "correct horse", "a new passphrase")


def test_a_password_change_retires_the_device_tokens_issued_before_it(domain: Domain) -> None:
    # Given a device token from a login (a thief's, with a stolen password, say)
    issued = register_and_login(domain)
    assert issued.device is not None
    credential = domain.store.find_credential("ada")
    assert domain.devices.recognise(issued.device.value, credential) is not None
    # When the owner changes the password
    changed = change_password(domain, issued, "correct horse", "a new passphrase")
    # Then the old token is an unknown device, and the change's own token is known
    credential = domain.store.find_credential("ada")
    assert domain.devices.recognise(issued.device.value, credential) is None
    assert changed.device is not None
    assert domain.devices.recognise(changed.device.value, credential) is not None


def test_a_device_token_of_another_account_is_an_unknown_device(domain: Domain) -> None:
    domain.accounts.register("bob", "correct horse", CLIENT.ip)
    bobs = login_as(domain, "bob").device
    assert bobs is not None
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    assert domain.devices.recognise(bobs.value, domain.store.find_credential("ada")) is None
    distributed_attack(domain)
    with pytest.raises(RateLimited):
        login_as(domain, "ada", client=ClientInfo("192.0.2.9", "x"), device_token=bobs.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.replace("dt2.", "dt1.", 1),
        lambda t: t + "x",
        lambda t: "",
        lambda t: "dt1." + "a" * 200,
    ],
    ids=["mac", "version", "trailing", "empty", "long"],
)
def test_a_forged_device_token_is_an_unknown_device(
    domain: Domain, tamper: Callable[[str], str]
) -> None:
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    token = login_as(domain).device
    assert token is not None
    credential = domain.store.find_credential("ada")
    assert domain.devices.recognise(token.value, credential) is not None
    assert domain.devices.recognise(tamper(token.value), credential) is None


def test_a_device_token_expires_after_180_days(domain: Domain) -> None:
    domain.accounts.register("ada", "correct horse", CLIENT.ip)
    token = login_as(domain).device
    assert token is not None
    credential = domain.store.find_credential("ada")
    domain.clock.advance(180 * 86_400 - 1)
    assert domain.devices.recognise(token.value, credential) is not None
    domain.clock.advance(1)
    assert domain.devices.recognise(token.value, credential) is None
