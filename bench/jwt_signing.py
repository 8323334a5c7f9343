"""JWT signing and verification: AccessTokens.mint / verify against the bare `cryptography`
operation on the same bytes with the same key (the floor no JWT library can go under)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from bench.timing import Timing, measure
from harness.clock import FixedClock, key_ring_source
from session_service.domain.keys.keyring import PrivateKey
from session_service.domain.sessions.tokens import AccessTokens

ALGORITHMS = ("RS256", "ES256", "EdDSA")
ISSUER = "https://sessions.example.test"
AUDIENCE = "example-api"
USER_ID = "0b7c7c9e-3f3a-4b7e-9d1e-2a8f6c1d4e5f"
SESSION_ID = "5d2f4a1c-8e6b-4c3d-a7f9-1b2c3d4e5f60"


@dataclass(frozen=True)
class JwtFigures:
    algorithm: str
    mint: Timing
    verify: Timing
    floor_sign: Timing
    floor_verify: Timing
    # Parts of verify: PyJWT's header parse, and PyJWT's decode with the public key ready.
    header_parse: Timing
    pyjwt_decode: Timing
    token_bytes: int


def _bare_sign(key: PrivateKey) -> Callable[[bytes], bytes]:
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign


def _bare_verify(key: PrivateKey) -> Callable[[bytes, bytes], None]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        rsa_key = public
        return lambda signature, data: rsa_key.verify(
            signature, data, padding.PKCS1v15(), hashes.SHA256()
        )
    if isinstance(public, ec.EllipticCurvePublicKey):
        ec_key = public
        return lambda signature, data: ec_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    return public.verify


def measure_algorithm(algorithm: str) -> JwtFigures:
    clock = FixedClock(1_800_000_000.0)
    keys, _secret = key_ring_source(algorithm, clock)
    tokens = AccessTokens(keys, lambda: ISSUER, AUDIENCE, 600, clock)
    not_after = int(clock()) + 3600
    token = tokens.mint(USER_ID, SESSION_ID, not_after).token
    signing_input = token.rsplit(".", 1)[0].encode()
    private_key = keys.current().signer(clock()).private_key
    sign = _bare_sign(private_key)
    verify = _bare_verify(private_key)
    signature = sign(signing_input)
    public_key = private_key.public_key()

    def decode() -> object:
        # What AccessTokens.verify asks of PyJWT, times checked separately as it does.
        return jwt.decode(
            token,
            public_key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )

    return JwtFigures(
        algorithm=algorithm,
        mint=measure(lambda: tokens.mint(USER_ID, SESSION_ID, not_after)),
        verify=measure(lambda: tokens.verify(token)),
        floor_sign=measure(lambda: sign(signing_input)),
        floor_verify=measure(lambda: verify(signature, signing_input)),
        header_parse=measure(lambda: jwt.get_unverified_header(token)),
        pyjwt_decode=measure(decode),
        token_bytes=len(token),
    )


def run() -> list[JwtFigures]:
    return [measure_algorithm(algorithm) for algorithm in ALGORITHMS]
