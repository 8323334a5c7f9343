"""examples/sso_web_app: its back-channel logout endpoint ends the session a valid logout
token names, and refuses every token Back-Channel Logout 1.0 §2.6 says to refuse (the
browser test, tests/e2e/browser/test_sso_apps.py, sends it the service's real ones)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from types import ModuleType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local_run.template import ROOT

ISSUER = "http://127.0.0.1:3000"
CLIENT_ID = "4cb9f96f-d698-4806-a2cf-66dc96b77d24"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sso_web_app", ROOT / "examples" / "sso_web_app" / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


class Keys:
    """The JWKS client's one method the app calls, with this test's key."""

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        assert kid == "k1"
        return jwt.PyJWK({**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"})


@pytest.fixture
def app() -> Any:
    """The web app with two sessions of ada (two browsers) and one of grace."""
    example = _example()
    settings = example.Settings(ISSUER, CLIENT_ID, "secret", 8001)
    provider = object.__new__(example.Provider)  # no discovery: the keys are given
    provider.settings, provider.keys = settings, Keys()
    web_app = example.WebApp(settings, provider)
    for sub, sid in (("ada", "s-1"), ("ada", "s-2"), ("grace", "s-3")):
        web_app.sessions[sid] = example.Session(sub, sub, sid, "id-token")
        web_app.handles[f"cookie-{sid}"] = sid
    return web_app


def logout_token(typ: str = "logout+jwt", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": "j-1",
        "sub": "ada",
        "sid": "s-1",
        "events": {EVENT: {}},
        **changes,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"typ": typ, "kid": "k1"})


def test_a_logout_token_ends_the_session_it_names_and_no_other(app: Any) -> None:
    # When the service says central session s-1 ended
    ended = app.back_channel_logout(logout_token())
    # Then that session is gone, its browser's cookie names nothing; the others live
    assert ended == 1
    assert set(app.sessions) == {"s-2", "s-3"}
    assert app.session("cookie-s-1") is None
    assert app.session("cookie-s-2").sid == "s-2"


def test_a_logout_token_without_sid_ends_every_session_of_the_user(app: Any) -> None:
    assert app.back_channel_logout(logout_token(sid=None)) == 2
    assert set(app.sessions) == {"s-3"}


def test_a_logout_token_whose_sub_is_not_the_sessions_ends_nothing(app: Any) -> None:
    assert app.back_channel_logout(logout_token(sub="grace")) == 0
    assert set(app.sessions) == {"s-1", "s-2", "s-3"}


@pytest.mark.parametrize(
    ("typ", "changes"),
    [
        pytest.param("JWT", {}, id="an ID token's type"),
        pytest.param("logout+jwt", {"nonce": "n-1"}, id="a nonce"),
        pytest.param("logout+jwt", {"events": None}, id="no events"),
        pytest.param("logout+jwt", {"events": {EVENT: "yes"}}, id="an event that is no object"),
        pytest.param("logout+jwt", {"events": {"other": {}}}, id="another event"),
        pytest.param("logout+jwt", {"aud": "another-app"}, id="another audience"),
        pytest.param("logout+jwt", {"iss": "http://127.0.0.1:9"}, id="another issuer"),
        pytest.param("logout+jwt", {"exp": int(time.time()) - 60}, id="expired"),
        pytest.param("logout+jwt", {"jti": None}, id="no jti"),
        pytest.param("logout+jwt", {"sid": None, "sub": None}, id="neither sid nor sub"),
    ],
)
def test_a_token_that_is_not_a_valid_logout_token_is_refused(
    app: Any, typ: str, changes: dict[str, Any]
) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        app.back_channel_logout(logout_token(typ, **changes))
    assert set(app.sessions) == {"s-1", "s-2", "s-3"}


def test_a_token_signed_by_another_key_is_refused(app: Any) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        jwt.decode(logout_token(), options={"verify_signature": False}),
        other,
        algorithm="RS256",
        headers={"typ": "logout+jwt", "kid": "k1"},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        app.back_channel_logout(forged)
    assert set(app.sessions) == {"s-1", "s-2", "s-3"}
