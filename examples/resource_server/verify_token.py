"""A resource server (not behind the authorizer) verifying the service's access tokens
itself, with PyJWT and the published JWKS. It checks what the authorizer checks of the
token itself; revocation it cannot see (the authorizer reads it from DynamoDB), so keep the
access-token lifetime short (ACCESS_TOKEN_TTL_SECONDS) or use the authorizer.

  python verify_token.py https://<api>/.well-known/jwks.json <issuer> <audience> <token>
"""

from __future__ import annotations

import sys
from typing import Any

import jwt

# The algorithms the service may sign with (JWT_ALGORITHM); never "none", never HS*.
ALGORITHMS = ["RS256", "ES256", "EdDSA"]


def verifier(jwks_url: str) -> jwt.PyJWKClient:
    # Caches the keys, and fetches again when a token names a kid it has not seen
    # (a rotation): one client per process.
    return jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)


def verify(client: jwt.PyJWKClient, token: str, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a valid access token; jwt.InvalidTokenError for anything else."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("not an access token (typ at+jwt)")
    key = client.get_signing_key(header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        issuer=issuer,
        audience=audience,
        leeway=1,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
    )
    return claims


if __name__ == "__main__":
    url, issuer, audience, token = sys.argv[1:5]
    print(verify(verifier(url), token, issuer, audience))
