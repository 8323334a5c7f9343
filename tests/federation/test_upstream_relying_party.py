"""The upstream relying party (adapters/upstream_oidc.py) end to end against a real OpenID
Connect provider (Node's oidc-provider, tests/federation/upstream.py): its authorization
URL is followed to the callback, the code is traded with the PKCE verifier, and the ID
token is checked against the provider's JWKS; a wrong nonce, a wrong verifier and a
replayed code are refused."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.federation.records import (
    AuthorizationRequest,
    CodeExchange,
    IdentityProvider,
    UpstreamIdentity,
    UpstreamRefused,
)
from tests.federation.upstream import UpstreamProvider, follow_to_callback

CLIENT_ID = "relying-party"
# Characters RFC 6749 §2.3.1's form-encoding changes in the Basic header (visible ASCII only: a
# client secret is VSCHAR, Appendix A.2)
CLIENT_SECRET = "s3cr:t+/ %&="
REDIRECT_URI = "http://127.0.0.1:9/auth/federation/upstream/callback"


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProvider]:
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
    }
    with UpstreamProvider().start([client]) as running:
        yield running


def registered(upstream: UpstreamProvider) -> IdentityProvider:
    return IdentityProvider(
        provider_id="upstream",
        name="Upstream",
        issuer=upstream.issuer,
        client_id=CLIENT_ID,
        sealed_secret=b"",
        scopes=("openid", "email", "profile"),
        created_at=0,
    )


def authorized(
    party: UpstreamRelyingParty, provider: IdentityProvider, nonce: str
) -> tuple[str, str]:
    """The code the browser brings back from the provider, and the PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    url = party.authorization_url(
        provider, AuthorizationRequest(REDIRECT_URI, state, nonce, challenge)
    )
    callback = parse_qs(urlsplit(follow_to_callback(url, REDIRECT_URI)).query)
    assert callback["state"] == [state]
    return callback["code"][0], verifier


def test_a_sign_in_at_the_upstream_provider_gives_its_identity(
    upstream: UpstreamProvider,
) -> None:
    party = UpstreamRelyingParty(allow_loopback_http=True)
    provider = registered(upstream)
    upstream.sign_in_as("alice", email="alice@upstream.test", name="Alice")
    code, verifier = authorized(party, provider, "nonce-1")
    exchange = CodeExchange(code, REDIRECT_URI, verifier, "nonce-1")
    identity = party.sign_in(provider, CLIENT_SECRET, exchange)
    assert identity == UpstreamIdentity("alice", "alice@upstream.test", True, "Alice")
    # A code is good once (RFC 6749 §4.1.2)
    with pytest.raises(UpstreamRefused) as refused:
        party.sign_in(provider, CLIENT_SECRET, exchange)
    assert refused.value.description == (
        "The provider's token endpoint answered 400 (invalid_grant)."
    )


def test_an_id_token_for_another_nonce_is_refused(upstream: UpstreamProvider) -> None:
    party = UpstreamRelyingParty(allow_loopback_http=True)
    provider = registered(upstream)
    upstream.sign_in_as("bob", email="bob@upstream.test", email_verified=False)
    code, verifier = authorized(party, provider, "nonce-sent")
    with pytest.raises(UpstreamRefused) as refused:
        party.sign_in(provider, CLIENT_SECRET, CodeExchange(code, REDIRECT_URI, verifier, "other"))
    assert refused.value.description == "The ID token's nonce is not the one this sign-in sent."


def test_a_code_traded_with_another_verifier_is_refused(upstream: UpstreamProvider) -> None:
    party = UpstreamRelyingParty(allow_loopback_http=True)
    provider = registered(upstream)
    upstream.sign_in_as("carol")
    code, _ = authorized(party, provider, "nonce-3")
    exchange = CodeExchange(code, REDIRECT_URI, secrets.token_urlsafe(48), "nonce-3")
    with pytest.raises(UpstreamRefused) as refused:
        party.sign_in(provider, CLIENT_SECRET, exchange)
    assert refused.value.description == (
        "The provider's token endpoint answered 400 (invalid_grant)."
    )
