"""argon2id password hashing: hash, verify, rehash, and a dummy verification for unknown users."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """OWASP's Password Storage Cheat Sheet asks for argon2id with at least 19 MiB, two
    passes and one lane. We keep its 19 MiB (Lambda memory is billed) and take three passes
    instead of two: 1.5x the minimum work per guess, about 26 ms per hash on one core.
    Stored hashes made with other parameters are upgraded at the next successful login."""

    time_cost: int = 3
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


DEFAULT_PARAMETERS = Argon2Parameters()

# A hash of a random password nobody knows, made with DEFAULT_PARAMETERS (a test checks
# they still match): verifying against it costs what verifying a real user's hash costs,
# without computing a hash at cold start.
_DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=3,p=1$U2HbkUSEMFWbpSSChjaqTA"
    "$JomIWpJUIgW6i7CDIzsW/orl/kk6R8y5J14jxidw128"
)


class Passwords:
    def __init__(self, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> None:
        self.parameters = parameters
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            hash_len=parameters.hash_len,
            salt_len=parameters.salt_len,
            type=Type.ID,
        )
        self._dummy_hash = _DUMMY_HASH if parameters == DEFAULT_PARAMETERS else self.hash("dummy")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def dummy_verify(self, password: str) -> None:
        """Spend what a real verification spends, so an unknown user costs the same time."""
        self.verify(self._dummy_hash, password)
