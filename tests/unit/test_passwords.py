"""argon2id parameters, verification, rehashing and the dummy verification."""

from __future__ import annotations

from argon2 import extract_parameters

from session_service.domain.accounts.passwords import (
    _DUMMY_HASH,
    DEFAULT_PARAMETERS,
    Argon2Parameters,
    Passwords,
)


def test_default_parameters_meet_owasps_minimum() -> None:
    # OWASP Password Storage Cheat Sheet: argon2id, m >= 19 MiB, t >= 2, p = 1
    assert DEFAULT_PARAMETERS.memory_cost_kib >= 19 * 1024
    assert DEFAULT_PARAMETERS.time_cost >= 2
    assert DEFAULT_PARAMETERS.parallelism == 1
    stored = Passwords().hash("correct horse")
    assert stored.startswith("$argon2id$")


def test_dummy_hash_uses_the_current_parameters() -> None:
    # Otherwise an unknown user would cost a different time than a known one.
    parameters = extract_parameters(_DUMMY_HASH)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        DEFAULT_PARAMETERS.memory_cost_kib,
        DEFAULT_PARAMETERS.time_cost,
        DEFAULT_PARAMETERS.parallelism,
    )
    assert not Passwords().needs_rehash(_DUMMY_HASH)


def test_verify_accepts_the_password_and_nothing_else() -> None:
    passwords = Passwords(Argon2Parameters(time_cost=1, memory_cost_kib=8))
    stored = passwords.hash("pässwörd ✓ long enough")
    assert passwords.verify(stored, "pässwörd ✓ long enough")
    assert not passwords.verify(stored, "pässwörd ✓ long enougH")
    assert not passwords.verify("not a hash", "anything")


def test_hash_made_with_weaker_parameters_needs_rehash() -> None:
    weak = Passwords(Argon2Parameters(time_cost=1, memory_cost_kib=8)).hash("correct horse")
    assert Passwords().needs_rehash(weak)
    assert not Passwords().needs_rehash(Passwords().hash("correct horse"))
