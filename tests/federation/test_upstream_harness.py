"""The federation tests' upstream provider (tests/federation/upstream.py): an authorization
goes from /auth to the client's redirect_uri with no page in between, the code exchanges
for an ID token signed with the key the test gave, and it names the account of the last
sign_in_as, a later one included."""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import secrets
import urllib.parse
import urllib.request
from typing import Any

import jwt

from tests.federation.upstream import NODE_MODULES, UpstreamProvider, follow_to_callback

CLIENT_ID = "federation-client"
CLIENT_SECRET = "federation-client-secret"
REDIRECT_URI = "http://127.0.0.1:9/cb"


def authorize(upstream: UpstreamProvider, cookies: http.cookiejar.CookieJar) -> dict[str, Any]:
    """The code flow with PKCE and a nonce, by hand: the ID token's verified claims."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
    )
    callback = follow_to_callback(f"{upstream.issuer}/auth?{query}", REDIRECT_URI, cookies)
    answer = urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query)
    assert answer["state"] == [state], callback
    assert answer.get("code"), callback

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (the provider's loopback URL)
        f"{upstream.issuer}/token",
        data=urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": answer["code"][0],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        ).encode(),
        headers={"authorization": f"Basic {basic}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        tokens = json.load(response)
    id_token = tokens["id_token"]
    assert jwt.get_unverified_header(id_token)["kid"] == upstream.signing_jwk["kid"]
    jwks = jwt.PyJWKClient(f"{upstream.issuer}/jwks", cache_keys=False)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        jwks.get_signing_key_from_jwt(id_token).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=upstream.issuer,
    )
    assert claims["nonce"] == nonce
    return claims


def test_upstream_signs_in_the_account_of_the_last_sign_in_as() -> None:
    assert NODE_MODULES.exists(), "make oidc-provider installs Node's oidc-provider"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
    }
    # One browser: the upstream session the first authorization leaves in its cookies does
    # not sign alice in again once the test signs in as bob.
    browser = http.cookiejar.CookieJar()
    with UpstreamProvider().start([client]) as upstream:
        upstream.sign_in_as("alice", email="alice@upstream.test")
        first = authorize(upstream, browser)
        assert (first["sub"], first["email"]) == ("alice", "alice@upstream.test")
        assert first["email_verified"] is True

        upstream.sign_in_as("bob", email="bob@upstream.test", email_verified=False)
        second = authorize(upstream, browser)
        assert (second["sub"], second["email"]) == ("bob", "bob@upstream.test")
        assert second["email_verified"] is False
