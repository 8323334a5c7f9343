"""Device tokens (OWASP's device cookies): proof that this device has signed in to this
account before, so that the username's ceiling across all addresses
(LOGIN_FAILURES_PER_USERNAME_ALL_IPS) does not hold it: failures from other addresses never
lock the owner out.

`dt2.<MAC key id>.<device id>.<user id>.<issued at, s>.<MAC>` (`dt1` tokens, from before
MAC key ids, name no key): the MAC (keyed by a key derived from the key ring's refresh-token
key it names) covers the fields, the username and the password's version it
was issued under. A token is good for that one account, cannot be forged, expires, and
stops counting once the password changes (whoever signed in with a stolen password loses
it). Issued with every token response that follows a proof of the password; the same device
keeps its id."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.keys.keyring import (
    DEVICE_TOKEN_LIFETIME_SECONDS,
    LEGACY_MAC_KEY_ID,
    MAC_KEY_ID_PATTERN,
    MacKey,
    MacKeys,
)
from session_service.domain.models import UUID_PATTERN, Credential, b64url

MAX_DEVICE_TOKEN_LENGTH = 144
_DEVICE_TOKEN = re.compile(
    rf"dt(?:1|2\.(?P<kid>{MAC_KEY_ID_PATTERN}))\.(?P<device>{UUID_PATTERN})\.(?P<user>{UUID_PATTERN})"
    r"\.(?P<issued>[1-9][0-9]{0,11})\.(?P<mac>[A-Za-z0-9_-]{22})"
)


@dataclass(frozen=True, slots=True)
class KnownDevice:
    device_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class DeviceToken:
    value: str
    device_id: str
    max_age: int


class DeviceTokens:
    def __init__(self, keys: MacKeys, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._clock = clock

    def issue(self, credential: Credential, device_id: str | None = None) -> DeviceToken:
        """A token for this device under the account's current password (`credential`
        after the change, for a password change)."""
        device_id = device_id or str(uuid.uuid4())
        key = self._keys.current()
        body = f"dt2.{key.kid}.{device_id}.{credential.user_id}.{int(self._clock())}"
        value = f"{body}.{_mac(key, body, credential)}"
        return DeviceToken(value, device_id, DEVICE_TOKEN_LIFETIME_SECONDS)

    def recognise(self, value: str | None, credential: Credential | None) -> KnownDevice | None:
        """The device a token names, if we issued it for this account under its current
        password and it is still valid; None for anything else (absent, malformed,
        forged, expired, another account's, from before a password change)."""
        if not value or credential is None or len(value) > MAX_DEVICE_TOKEN_LENGTH:
            return None
        match = _DEVICE_TOKEN.fullmatch(value)
        if match is None or match["user"] != credential.user_id:
            return None
        body = value.rsplit(".", 1)[0]
        key = self._keys.named(match["kid"] or LEGACY_MAC_KEY_ID)
        if key is None or not hmac.compare_digest(_mac(key, body, credential), match["mac"]):
            return None
        age = self._clock() - int(match["issued"])
        if not -60 <= age < DEVICE_TOKEN_LIFETIME_SECONDS:
            return None
        return KnownDevice(device_id=match["device"], user_id=match["user"])


def _mac(mac_key: MacKey, body: str, credential: Credential) -> str:
    # A key of its own, derived: a device token is never a valid refresh-token MAC.
    key = hmac.new(mac_key.key, b"device-token", hashlib.sha256).digest()
    bound = f"{credential.username_key}|{credential.password_version}|{body}"
    digest = hmac.new(key, bound.encode(), hashlib.sha256).digest()
    return b64url(digest[:16])
