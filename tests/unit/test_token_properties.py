"""Property tests (hypothesis): token parsing refuses anything that is not ours with the
right error, and never with another one."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.domain import build_domain
from session_service.domain.errors import InvalidGrant, InvalidToken
from tests.unit.jwt_forgery import b64url, unsigned

DOMAIN = build_domain()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(st.text(max_size=600))
def test_any_text_as_a_refresh_token_is_invalid_grant_or_ours(text: str) -> None:
    try:
        token = DOMAIN.refresh_tokens.parse(text)
    except InvalidGrant:
        return
    assert token.value == text


@quick
@given(
    st.uuids(version=4),
    st.uuids(version=4),
    st.integers(min_value=0, max_value=999_999_999),
    st.integers(min_value=1, max_value=10**14),
)
def test_issued_refresh_tokens_parse_back_to_themselves(
    user: uuid.UUID, session: uuid.UUID, generation: int, expires: int
) -> None:
    issued = DOMAIN.refresh_tokens.issue(str(user), str(session), generation, expires)
    assert DOMAIN.refresh_tokens.parse(issued.value) == issued


@quick
@given(st.text(max_size=600))
def test_any_text_as_an_access_token_is_invalid_token(text: str) -> None:
    try:
        DOMAIN.access_tokens.verify(text)
    except InvalidToken:
        return
    raise AssertionError("verified a token that was never issued")


@quick
@given(JSON, JSON, st.binary(max_size=300))
def test_any_header_and_claims_with_any_signature_are_invalid_token(
    header: object, claims: object, signature: bytes
) -> None:
    header_text = b64url(json.dumps(header).encode())
    claims_text = b64url(json.dumps(claims).encode())
    token = f"{header_text}.{claims_text}.{b64url(signature)}"
    for candidate in (token, unsigned({"alg": "RS256", "kid": "x", "typ": "at+jwt"}, {})):
        try:
            DOMAIN.access_tokens.verify(candidate)
        except InvalidToken:
            continue
        raise AssertionError("verified a forged token")
