"""The opaque secrets of single sign-on: authorization codes and apps' refresh tokens. Each
is 256 bits from `secrets`, and only its SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from session_service.domain.errors import InvalidGrant
from session_service.domain.keys.keyring import MAC_KEY_ID_PATTERN, MacKeys
from session_service.domain.models import UUID_PATTERN, b64url
from session_service.domain.sessions.tokens import token_mac

_SECRET = r"[A-Za-z0-9_-]{43}"
_CODE = re.compile(_SECRET)
# og2.<MAC key id>.<user id>.<central session id>.<grant id>.<generation>.<256-bit
# secret>.<MAC> (the MAC covers all before it): the MAC tells a genuine older token (reuse,
# which ends its grant) from a forgery (merely refused). The session id names the grant's
# item (GRANTS#<user id> / GRANT#<session id>#<grant id>).
_PREFIX = "og2."
_GRANT_TOKEN = re.compile(
    rf"og2\.(?P<kid>{MAC_KEY_ID_PATTERN})\.(?P<user>{UUID_PATTERN})\.(?P<session>{UUID_PATTERN})"
    rf"\.(?P<grant>{UUID_PATTERN})\.(?P<generation>0|[1-9][0-9]{{0,8}})\.{_SECRET}"
    rf"\.(?P<mac>[A-Za-z0-9_-]{{22}})"
)
MAX_TOKEN_LENGTH = 512


def digest(value: str) -> str:
    return b64url(hashlib.sha256(value.encode()).digest())


def new_code() -> str:
    return secrets.token_urlsafe(32)


def is_code(value: object) -> bool:
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class GrantRefreshToken:
    user_id: str
    session_id: str
    grant_id: str
    generation: int
    value: str

    @property
    def digest(self) -> str:
        return digest(self.value)


class GrantTokens:
    """Issues and parses the refresh tokens of apps' grants."""

    def __init__(self, keys: MacKeys) -> None:
        self._keys = keys

    def issue(
        self, user_id: str, session_id: str, grant_id: str, generation: int
    ) -> GrantRefreshToken:
        key = self._keys.current()
        secret = secrets.token_urlsafe(32)
        body = f"{_PREFIX}{key.kid}.{user_id}.{session_id}.{grant_id}.{generation}.{secret}"
        value = f"{body}.{token_mac(key, body)}"
        return GrantRefreshToken(user_id, session_id, grant_id, generation, value)

    def parse(self, value: object) -> GrantRefreshToken:
        match = (
            _GRANT_TOKEN.fullmatch(value)
            if isinstance(value, str) and len(value) <= MAX_TOKEN_LENGTH
            else None
        )
        if match is None:
            raise InvalidGrant("The refresh token is malformed.")
        assert isinstance(value, str)
        body = value.rsplit(".", 1)[0]
        key = self._keys.named(match["kid"])
        if key is None or not hmac.compare_digest(token_mac(key, body), match["mac"]):
            raise InvalidGrant("The refresh token is invalid.")
        return GrantRefreshToken(
            match["user"], match["session"], match["grant"], int(match["generation"]), value
        )

    @staticmethod
    def looks_like_one(value: object) -> bool:
        return isinstance(value, str) and value.startswith(_PREFIX)
