"""The upstream relying party (adapters/upstream_oidc.py) when the provider fails or
misbehaves (tests/unit/upstream_fake.py): refused answers, unavailable providers, the
time budget, plain http, and the caches."""

from __future__ import annotations

import time

import pytest

from session_service.adapters import upstream_oidc
from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.errors import Unavailable
from session_service.domain.federation.records import (
    AuthorizationRequest,
    UpstreamRefused,
)
from tests.unit.upstream_fake import (
    EXCHANGE,
    NOW,
    OTHER_RSA_KEY,
    SECRET,
    Monotonic,
    Upstream,
    claims,
    provider_of,
    public_jwk,
    refusal,
    signed,
)


def test_a_discovery_document_of_another_issuer_is_refused(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    upstream.discovery["issuer"] = upstream.issuer + "/"
    assert refusal(party, upstream) == "The provider's discovery names another issuer."
    assert upstream.paths() == ["/.well-known/openid-configuration"]


def test_a_discovery_document_with_an_endpoint_over_plain_http_is_refused(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    upstream.discovery["token_endpoint"] = "http://idp.example.test/token"
    assert refusal(party, upstream) == "The provider's discovery has no https token_endpoint."


@pytest.mark.parametrize(
    ("answer", "description"),
    [
        (
            (400, b'{"error": "invalid_grant", "error_description": "code the-code is used"}'),
            "The provider's token endpoint answered 400 (invalid_grant).",
        ),
        ((401, b"<html>no</html>"), "The provider's token endpoint answered 401."),
        ((200, b"<html>ok</html>"), "The provider's token endpoint answered no JSON object."),
        ((200, b'{"access_token": "at"}'), "The provider's token endpoint answered no ID token."),
    ],
)
def test_an_error_or_odd_token_answer_is_refused_without_the_code(
    party: UpstreamRelyingParty, upstream: Upstream, answer: tuple[int, bytes], description: str
) -> None:
    upstream.token_answer = answer
    assert refusal(party, upstream) == description


@pytest.mark.parametrize("path", ["/token", "/jwks", "/.well-known/openid-configuration"])
def test_a_provider_answering_503_is_unavailable(
    party: UpstreamRelyingParty, upstream: Upstream, path: str
) -> None:
    upstream.answer_id_token(signed(claims(upstream)))
    upstream.overrides[path] = (503, b"{}")
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert unavailable.value.retry_after == 5
    what = {"/token": "token endpoint", "/jwks": "JWKS"}.get(path, "discovery")
    assert unavailable.value.description == f"The provider's {what} answered 503."


def test_a_provider_not_listening_is_unavailable(party: UpstreamRelyingParty) -> None:
    closed = Upstream()
    closed.stop()
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(closed), SECRET, EXCHANGE)
    assert unavailable.value.description == (
        "The provider's discovery did not answer (ConnectionRefusedError)."
    )


def test_a_trickling_token_endpoint_ends_the_sign_in_at_its_total_budget(
    party: UpstreamRelyingParty, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_oidc, "SIGN_IN_SECONDS", 1.0)
    upstream.trickle_token_answer = True
    started = time.monotonic()
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    took = time.monotonic() - started
    assert (
        unavailable.value.description
        == "The provider's token endpoint did not answer (TimeoutError)."
    )
    assert 1.0 <= took < 1.5


def test_an_oversized_jwks_is_refused(party: UpstreamRelyingParty, upstream: Upstream) -> None:
    upstream.jwks["padding"] = "x" * (512 * 1024)
    upstream.answer_id_token(signed(claims(upstream)))
    assert refusal(party, upstream) == "The provider's JWKS answered more than 512 KiB."


@pytest.mark.parametrize("issuer", ["http://idp.example.test", "loopback"])
def test_plain_http_is_refused_without_a_request_unless_loopback_is_allowed(
    upstream: Upstream, issuer: str
) -> None:
    party = UpstreamRelyingParty(clock=lambda: NOW)
    provider = provider_of(upstream, upstream.issuer if issuer == "loopback" else issuer)
    for attempt in (
        lambda: party.sign_in(provider, SECRET, EXCHANGE),
        lambda: party.authorization_url(provider, AuthorizationRequest("u", "s", "n", "c")),
    ):
        with pytest.raises(UpstreamRefused) as refused:
            attempt()
        assert refused.value.description == "The provider's issuer is not an https URL."
    assert upstream.requests == []


def test_discovery_and_jwks_are_fetched_once_then_again_when_stale(
    party: UpstreamRelyingParty, upstream: Upstream, monotonic: Monotonic
) -> None:
    upstream.answer_id_token(signed(claims(upstream)))
    provider = provider_of(upstream)
    party.sign_in(provider, SECRET, EXCHANGE)
    party.authorization_url(provider, AuthorizationRequest("u", "s", "n", "c"))
    party.sign_in(provider, SECRET, EXCHANGE)
    discovery, jwks = "/.well-known/openid-configuration", "/jwks"
    assert upstream.paths() == [discovery, "/token", jwks, "/token"]
    monotonic.now += 600  # the JWKS's ten minutes are over, not discovery's hour
    party.sign_in(provider, SECRET, EXCHANGE)
    assert upstream.paths()[4:] == ["/token", jwks]
    monotonic.now += 3000  # and discovery's hour (the JWKS is stale again too)
    party.sign_in(provider, SECRET, EXCHANGE)
    assert upstream.paths()[6:] == [discovery, "/token", jwks]


def test_an_unknown_kid_refetches_the_jwks_at_most_once_per_30_seconds(
    party: UpstreamRelyingParty, upstream: Upstream, monotonic: Monotonic
) -> None:
    # Given a JWKS fetched by a sign-in
    upstream.answer_id_token(signed(claims(upstream)))
    party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert upstream.paths().count("/jwks") == 1
    # When the provider rotates to a key the cache does not hold, within 30 s
    upstream.jwks["keys"].append(public_jwk(OTHER_RSA_KEY, "rsa-2", "RS256"))
    upstream.answer_id_token(signed(claims(upstream), kid="rsa-2", key=OTHER_RSA_KEY))
    monotonic.now += 29
    # Then its token is refused, and the JWKS not fetched again
    for _ in range(3):
        assert refusal(party, upstream) == "The ID token's kid names no key of the provider's JWKS."
    assert upstream.paths().count("/jwks") == 1
    # And 30 s after the fetch, the unknown kid refetches it, once, and signs in
    monotonic.now += 1
    assert party.sign_in(provider_of(upstream), SECRET, EXCHANGE).subject == "user-123"
    party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert upstream.paths().count("/jwks") == 2
    # And a kid that is nowhere refetches no more than once per 30 s either
    upstream.answer_id_token(signed(claims(upstream), kid="forged"))
    monotonic.now += 30
    for _ in range(3):
        assert refusal(party, upstream) == "The ID token's kid names no key of the provider's JWKS."
    assert upstream.paths().count("/jwks") == 3
