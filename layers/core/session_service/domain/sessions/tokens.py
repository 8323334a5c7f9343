"""Access tokens (signed JWTs) and refresh tokens (opaque, rotating, stored only as hashes)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jwt

from session_service.domain.errors import InvalidGrant, InvalidToken, Unavailable
from session_service.domain.keys.keyring import (
    LEGACY_MAC_KEY_ID,
    MAC_KEY_ID_PATTERN,
    KeyRingError,
    KeyRingSource,
    KeySource,
    MacKey,
    MacKeys,
    SigningKey,
    VerificationKey,
    VerificationKeys,
)
from session_service.domain.models import PASSWORD_AMR, UUID_PATTERN, b64url
from session_service.observability import logger

ACCESS_TOKEN_TYPE = "at+jwt"
# RFC 8725 §3.1: the service verifies with the algorithm bound to each key, never the
# one a token names; this is the set any key may have.
ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
LEEWAY_SECONDS = 1
# Our tokens are well under 1 KiB; anything much larger is not ours and is refused
# before any parsing work.
MAX_ACCESS_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "jti", "iat", "exp")


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    user_id: str
    session_id: str
    token_id: str
    issued_at: int
    expires_at: int
    # When the user last proved a credential in the session (epoch seconds), and how: as
    # the token says (the authorizer goes by the stored session instead).
    auth_time: int = 0
    amr: tuple[str, ...] = ()
    # The step-up the token's client made, if it made one (its id, `proof`).
    proof_id: str | None = None
    # An app's token (single sign-on, RFC 9068): the app, what it was granted, and the
    # grant, which the authorizer reads with the session (an ended grant ends the token).
    client_id: str | None = None
    scope: str | None = None
    grant_id: str | None = None


@dataclass(frozen=True, slots=True)
class MintedAccessToken:
    token: str
    expires_in: int


class AccessTokens:
    """Mints and verifies the service's access tokens."""

    def __init__(
        self,
        keys: KeyRingSource | None,
        issuer: Callable[[], str],
        audience: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
        verification_keys: KeySource[VerificationKeys] | None = None,
    ) -> None:
        """`keys` signs (None where tokens are only verified: the authorizer holds no
        private key); `verification_keys` verifies, by default the ring's own."""
        self._keys = keys
        verifier = verification_keys or keys
        if verifier is None:
            raise ValueError("AccessTokens needs keys to sign or to verify with")
        self._verification_keys: KeySource[VerificationKeys] = cast(Any, verifier)
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._clock = clock

    def mint(
        self,
        user_id: str,
        session_id: str,
        not_after: int,
        auth_time: int | None = None,
        amr: tuple[str, ...] = PASSWORD_AMR,
        proof_id: str | None = None,
        app_claims: Mapping[str, str] | None = None,
    ) -> MintedAccessToken:
        """A token for the session, expiring after the configured lifetime or when the
        session itself ends (`not_after`, epoch seconds), whichever comes first; with
        `auth_time` and `amr` (RFC 9470, RFC 8176) for step-up decisions, and the id of
        the step-up they come from (`proof`), by which the authorizer finds them; an app's
        token (single sign-on) adds `client_id` and `scope` (RFC 9068) in `app_claims`."""
        if self._keys is None:
            raise RuntimeError("this function verifies tokens only; it holds no signing key")
        key = self._signer()
        issued_at = int(self._clock())
        expires_at = max(issued_at + 1, min(issued_at + self._ttl, not_after))
        claims = {
            "iss": self._issuer(),
            "aud": self._audience,
            "sub": user_id,
            "sid": session_id,
            "jti": str(uuid.uuid4()),
            "iat": issued_at,
            "exp": expires_at,
            "auth_time": issued_at if auth_time is None else auth_time,
            "amr": list(amr),
        }
        if proof_id is not None:
            claims["proof"] = proof_id
        claims |= app_claims or {}
        token = self.sign(claims, ACCESS_TOKEN_TYPE, key)
        return MintedAccessToken(token=token, expires_in=expires_at - issued_at)

    def sign(self, claims: Mapping[str, Any], typ: str, key: SigningKey | None = None) -> str:
        """A JWT of these claims under the current signing key: an access token, or the
        ID and logout tokens of single sign-on (their own `typ`)."""
        key = key or self._signer()
        return jwt.encode(
            dict(claims),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": typ},
        )

    def issuer(self) -> str:
        return self._issuer()

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def verify(self, token: str) -> AccessTokenClaims:
        if not token or len(token) > MAX_ACCESS_TOKEN_LENGTH:
            raise InvalidToken("The access token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed.") from None
        self._check_header(header)
        key = self._verification_key(self._verification_keys.current(), header["kid"])
        if header.get("alg") != key.algorithm:
            raise InvalidToken("The access token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer(),
                # Time is checked below against our clock, which tests can set.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "strict_aud": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise InvalidToken("The access token is invalid.") from None
        self._check_times(claims)
        return _claims(claims)

    def verify_id_token_hint(self, token: str) -> dict[str, Any]:
        """An ID token we issued (RP-Initiated Logout's id_token_hint): its signature and
        issuer, whatever its audience and even expired (OpenID Connect RP-Initiated Logout
        1.0 §2); the caller matches `aud` and `sid`."""
        if not token or len(token) > MAX_ACCESS_TOKEN_LENGTH:
            raise InvalidToken("The ID token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The ID token is malformed.") from None
        if header.get("typ") != "JWT" or header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("The token is not one of our ID tokens.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise InvalidToken("The ID token names no valid key.")
        key = self._verification_key(self._verification_keys.current(), kid)
        if header["alg"] != key.algorithm:
            raise InvalidToken("The ID token's algorithm does not match its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                issuer=self._issuer(),
                options={
                    "require": ["iss", "sub", "aud", "sid"],
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise InvalidToken("The ID token is invalid.") from None
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        times = {name: claims.get(name) for name in ("exp", "iat", "nbf")}
        for name, value in times.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InvalidToken(f"The access token's {name} is not a number.")
        if now >= times["exp"] + LEEWAY_SECONDS:  # type: ignore[operator]
            raise InvalidToken("The access token has expired.")
        if times["nbf"] is not None and now < times["nbf"] - LEEWAY_SECONDS:
            raise InvalidToken("The access token is not valid yet.")
        if now < times["iat"] - LEEWAY_SECONDS:  # type: ignore[operator]
            raise InvalidToken("The access token was issued in the future.")

    def _check_header(self, header: dict[str, Any]) -> None:
        if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
            raise InvalidToken("The token is not an access token.")
        if "crit" in header:
            # RFC 7515 §4.1.11: we understand no extensions, so none may be critical.
            raise InvalidToken("The access token uses unsupported critical extensions.")
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("The access token's algorithm is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise InvalidToken("The access token names no valid key.")

    def _signer(self) -> SigningKey:
        assert self._keys is not None
        try:
            return self._keys.current().signer(self._clock())
        except KeyRingError:
            logger.exception("no signing key is in use")
            raise Unavailable(retry_after=5) from None

    def _verification_key(self, keys: VerificationKeys, kid: str) -> VerificationKey:
        now = self._clock()
        key = keys.verification_key(kid, now)
        if key is None:
            fresher = self._verification_keys.refreshed()
            key = fresher.verification_key(kid, now) if fresher else None
        if key is None:
            raise InvalidToken("The access token was signed by an unknown key.")
        return key


def _claims(claims: dict[str, Any]) -> AccessTokenClaims:
    user_id, session_id, token_id = claims["sub"], claims["sid"], claims["jti"]
    if not all(isinstance(value, str) and value for value in (user_id, session_id, token_id)):
        raise InvalidToken("The access token's claims are invalid.")
    auth_time, amr = claims.get("auth_time", 0), claims.get("amr", [])
    proof_id = claims.get("proof")
    if proof_id is not None and not (isinstance(proof_id, str) and _PROOF_ID.fullmatch(proof_id)):
        raise InvalidToken("The access token's proof is not one of ours.")
    # Absent (a token from before these claims): never recent, no method known.
    if isinstance(auth_time, bool) or not isinstance(auth_time, int):
        raise InvalidToken("The access token's auth_time is not a number.")
    if not isinstance(amr, list) or not all(isinstance(m, str) for m in amr):
        raise InvalidToken("The access token's amr is not a list of methods.")
    client_id, scope = claims.get("client_id"), claims.get("scope")
    if not all(value is None or isinstance(value, str) for value in (client_id, scope)):
        raise InvalidToken("The access token's client_id or scope is not a string.")
    grant_id = claims.get("grant_id")
    if grant_id is not None and not (isinstance(grant_id, str) and _UUID_ID.fullmatch(grant_id)):
        raise InvalidToken("The access token's grant_id is not one of ours.")
    return AccessTokenClaims(
        user_id=user_id,
        session_id=session_id,
        token_id=token_id,
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
        auth_time=auth_time,
        amr=tuple(amr),
        proof_id=proof_id,
        client_id=client_id,
        scope=scope,
        grant_id=grant_id,
    )


# rt2.<MAC key id>.<user id>.<session id>.<generation>.<absolute expiry, ms>
#    .<256-bit secret>.<MAC>; `rt1` tokens, from before MAC key ids, name no key; `rt3`
# tokens, of a client that stepped up, name its step-up after the key: rt3.<MAC key
# id>.<proof id>.<user id>... A central session's (the hosted sign-in's cookie, docs/sso.md)
# are `ct2` and `ct3`: the MAC covers the prefix, and no refresh-token route takes them.
_UUID = UUID_PATTERN
_UUID_ID = re.compile(_UUID)
_PROOF_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_REFRESH_TOKEN = re.compile(
    rf"(?:rt1|(?P<kind>rt|ct)(?:2\.(?P<kid>{MAC_KEY_ID_PATTERN})"
    rf"|3\.(?P<kid3>{MAC_KEY_ID_PATTERN})\.(?P<proof>[A-Za-z0-9_-]{{22}})))"
    rf"\.(?P<user>{_UUID})\.(?P<session>{_UUID})\.(?P<generation>0|[1-9][0-9]{{0,8}})"
    r"\.(?P<expires>[1-9][0-9]{0,14})\.(?P<secret>[A-Za-z0-9_-]{43})\.(?P<mac>[A-Za-z0-9_-]{22})"
)


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token names its session, its generation and the session's absolute expiry;
    its secret is 256 bits from `secrets`, and only `digest` is ever stored."""

    user_id: str
    session_id: str
    generation: int
    absolute_expires_at: int
    value: str
    # The step-up of the client it was issued to, if that client stepped up.
    proof_id: str | None = None
    # A central session's (its cookie's): never exchanged at a refresh-token route.
    central: bool = False

    @property
    def digest(self) -> str:
        return b64url(hashlib.sha256(self.value.encode()).digest())


class RefreshTokens:
    """Issues and parses refresh tokens.

    The MAC (keyed by one of the key ring's refresh-token keys, which the token names)
    proves that we issued a token, so a genuine older token can be told apart from a
    forgery: the former is reuse and revokes its session, the latter is merely refused and
    cannot be used to end someone's session.
    """

    def __init__(self, keys: MacKeys) -> None:
        self._keys = keys

    def issue(
        self,
        user_id: str,
        session_id: str,
        generation: int,
        absolute_expires_at: int,
        proof_id: str | None = None,
        central: bool = False,
    ) -> RefreshToken:
        secret = secrets.token_urlsafe(32)
        key = self._keys.current()
        kind = "ct" if central else "rt"
        prefix = f"{kind}3.{key.kid}.{proof_id}" if proof_id else f"{kind}2.{key.kid}"
        body = f"{prefix}.{user_id}.{session_id}.{generation}.{absolute_expires_at}.{secret}"
        value = f"{body}.{token_mac(key, body)}"
        return RefreshToken(
            user_id, session_id, generation, absolute_expires_at, value, proof_id, central
        )

    def parse(self, value: str) -> RefreshToken:
        match = _REFRESH_TOKEN.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidGrant("The refresh token is malformed.")
        body = value.rsplit(".", 1)[0]
        key = self._keys.named(match["kid"] or match["kid3"] or LEGACY_MAC_KEY_ID)
        if key is None or not hmac.compare_digest(token_mac(key, body), match["mac"]):
            raise InvalidGrant("The refresh token is invalid.")
        return RefreshToken(
            match["user"],
            match["session"],
            int(match["generation"]),
            int(match["expires"]),
            value,
            match["proof"],
            central=match["kind"] == "ct",
        )

    def parse_central(self, value: str) -> RefreshToken:
        """A central session's token (the hosted sign-in's cookie): any other genuine
        token, an API session's above all, is no central session's (docs/sso.md)."""
        token = self.parse(value)
        if not token.central:
            raise InvalidGrant("The token is not a central session's.")
        return token


def token_mac(key: MacKey, body: str) -> str:
    """The MAC an opaque token of ours ends with (128 bits of HMAC-SHA256, base64url); the
    apps' refresh tokens of single sign-on carry the same."""
    return b64url(hmac.new(key.key, body.encode(), hashlib.sha256).digest()[:16])
