"""E-mail addresses as the service keeps them, and the secrets it mails: six-digit codes
(stored as keyed digests: a plain digest of a million codes is no secret) and reset
tokens (256 bits, stored as their SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from session_service.domain.errors import InvalidRequest
from session_service.domain.models import b64url

# RFC 5321's limit: 254 octets in all (a path of 256 with its <>). (A local part over
# its 64 is accepted: SES refuses to send to it, and the mailer drops the message.)
MAX_ADDRESS_LENGTH = 254
# A dot-atom address of printable ASCII (RFC 5322 §3.2.3's atext less "=" and "?", dots
# between atoms) at a domain of letters, digits and hyphens with a dot: stricter than RFC
# 5322 on purpose, since an address is a key here and goes into a message's header. No
# quoted local part, no comment, no control character, and so no RFC 2047 encoded-word
# ("=?...?="), which a mail library would decode into another address. The API's schema
# carries the same pattern (ADDRESS_PATTERN), so that what it calls valid is valid here.
_ATOM = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,63}}$"
_ADDRESS = re.compile(ADDRESS_PATTERN)
CODE_DIGITS = 6
RESET_TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128


def normalize_address(raw: object, field: str = "email") -> str:
    """The address as a key: trimmed and lower-cased (every provider this service meets
    treats the local part case-insensitively); 400 when it is no address."""
    if not isinstance(raw, str):
        raise InvalidRequest(f"{field} must be an e-mail address.")
    address = raw.strip().lower()
    if len(address) > MAX_ADDRESS_LENGTH or _ADDRESS.fullmatch(address) is None:
        raise InvalidRequest(f"{field} must be an e-mail address.")
    return address


def mailbox_of(address: str) -> str:
    """The mailbox an address reaches, as the mailing limits count it: without a
    `+tag` (most providers deliver ada+1@ and ada+2@ to ada@), so tags share one limit."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def address_digest(address: str) -> str:
    """A normalized address as part of a key that need not show it (a throttle scope)."""
    return b64url(hashlib.sha256(address.encode()).digest())[:27]


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code(value: str) -> bool:
    return len(value) == CODE_DIGITS and value.isascii() and value.isdigit()


def code_digest(key: bytes, purpose: str, owner: str, code: str) -> str:
    """A code's keyed digest, bound to what it is for and whose it is."""
    message = f"{purpose}\x00{owner}\x00{code}".encode()
    return b64url(hmac.new(key, message, hashlib.sha256).digest())


def codes_match(expected_digest: str, key: bytes, purpose: str, owner: str, code: str) -> bool:
    return hmac.compare_digest(expected_digest, code_digest(key, purpose, owner, code))


def new_token() -> str:
    return b64url(secrets.token_bytes(RESET_TOKEN_BYTES))


def token_digest(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())


def is_token(value: str) -> bool:
    """Shaped like one of our tokens or login ids (base64url, not absurdly long)."""
    return (
        16 <= len(value) <= MAX_TOKEN_LENGTH and re.fullmatch(r"[A-Za-z0-9_-]+", value) is not None
    )
