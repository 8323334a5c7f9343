"""A confidential web app that signs its users in through the session service (OpenID
Connect: authorization code + PKCE + client secret), keeps its own server-side sessions
keyed by the central session's id (`sid`), and ends them when the service POSTs a logout
token to /backchannel-logout. Standard library and PyJWT only.

    ISSUER=http://127.0.0.1:3000 CLIENT_ID=... CLIENT_SECRET=... PORT=8001 \\
        python examples/sso_web_app/app.py

Register it first (POST /admin/clients) with redirect URI http://127.0.0.1:PORT/callback,
post-logout redirect URI http://127.0.0.1:PORT/ and back-channel logout URI
http://127.0.0.1:PORT/backchannel-logout: `make sso-demo` does all of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html import escape
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

# The algorithms the service may sign with (JWT_ALGORITHM); never "none", never HS*.
ALGORITHMS = ["RS256", "ES256", "EdDSA"]
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cookie(self) -> str:
        # Browsers do not tell ports apart in cookies: the name keeps this app's own.
        return f"web_app_{self.port}"


@dataclass(frozen=True)
class Session:
    """What the app keeps of a sign-in: who, which central session, and the ID token that
    RP-initiated logout sends back as its hint."""

    sub: str
    username: str
    sid: str
    id_token: str


class Provider:
    """The service as this app sees it: discovery, the token endpoint, the keys."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metadata = _get_json(f"{settings.issuer}/.well-known/openid-configuration")
        if self.metadata["issuer"] != settings.issuer:
            raise RuntimeError(f"discovery names another issuer: {self.metadata['issuer']}")
        # Caches the keys, and fetches again when a token names a kid it has not seen.
        self.keys = jwt.PyJWKClient(self.metadata["jwks_uri"], cache_keys=True, lifespan=300)

    def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": f"{self.settings.base_url}/callback",
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        return f"{self.metadata['authorization_endpoint']}?{urllib.parse.urlencode(query)}"

    def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        """The token response for a code (client_secret_basic: RFC 6749 §2.3.1 encodes
        both parts before joining them)."""
        pair = ":".join(
            urllib.parse.quote(part, safe="")
            for part in (self.settings.client_id, self.settings.client_secret)
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{self.settings.base_url}/callback",
            "code_verifier": verifier,
        }
        request = urllib.request.Request(  # noqa: S310 (the issuer's own https or loopback URL)
            self.metadata["token_endpoint"],
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return dict(json.load(answer))

    def verify(self, token: str, typ: str, required: list[str]) -> dict[str, Any]:
        """The claims of a token the service signed for this app; jwt.InvalidTokenError
        for anything else (wrong type, signature, issuer, audience, expired)."""
        header = jwt.get_unverified_header(token)
        if header.get("typ") != typ or "kid" not in header:
            raise jwt.InvalidTokenError(f"not a {typ} token of the service")
        claims: dict[str, Any] = jwt.decode(
            token,
            self.keys.get_signing_key(header["kid"]),
            algorithms=ALGORITHMS,
            issuer=self.settings.issuer,
            audience=self.settings.client_id,
            leeway=5,
            options={"require": ["iss", "aud", "exp", "iat", *required]},
        )
        return claims


class WebApp:
    """The app's state: sign-ins under way (by state) and sessions (by sid)."""

    def __init__(self, settings: Settings, provider: Provider) -> None:
        self.settings = settings
        self.provider = provider
        self.lock = threading.Lock()
        self.pending: dict[str, tuple[str, str]] = {}  # state -> (PKCE verifier, nonce)
        self.sessions: dict[str, Session] = {}  # sid -> the session
        self.handles: dict[str, str] = {}  # the browser's cookie -> sid

    def start_sign_in(self) -> tuple[str, str]:
        """Where to send the browser, and the state its cookie binds it to."""
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        with self.lock:
            self.pending[state] = (verifier, nonce)
        return self.provider.authorization_url(state, nonce, verifier), state

    def finish_sign_in(self, query: dict[str, str], cookie_state: str | None) -> str:
        """A new session's cookie handle, from the redirect back; ValueError if the
        answer is not for this browser's sign-in."""
        state = query.get("state", "")
        with self.lock:
            verifier, nonce = self.pending.pop(state, ("", ""))
        if not verifier or state != cookie_state:
            raise ValueError("no sign-in of this browser is under way")
        if query.get("iss") != self.settings.issuer:  # RFC 9207: the answer is the issuer's
            raise ValueError("the answer does not come from the issuer")
        if "code" not in query:
            raise ValueError(query.get("error_description") or query.get("error", "no code"))
        tokens = self.provider.exchange(query["code"], verifier)
        claims = self.provider.verify(tokens["id_token"], "JWT", ["sub", "sid", "nonce"])
        if not secrets.compare_digest(claims["nonce"], nonce):
            raise ValueError("the ID token's nonce is not this sign-in's")
        username = str(claims.get("preferred_username", claims["sub"]))
        session = Session(claims["sub"], username, claims["sid"], tokens["id_token"])
        handle = secrets.token_urlsafe(32)
        with self.lock:
            self.sessions[session.sid] = session
            self.handles[handle] = session.sid
        return handle

    def session(self, handle: str | None) -> Session | None:
        with self.lock:
            return self.sessions.get(self.handles.get(handle or "", ""))

    def end(self, handle: str | None) -> Session | None:
        with self.lock:
            return self.sessions.pop(self.handles.pop(handle or "", ""), None)

    def back_channel_logout(self, logout_token: str) -> int:
        """Checks a logout token (Back-Channel Logout 1.0 §2.6) and ends the sessions it
        names; the number ended. jwt.InvalidTokenError if it is not a valid one."""
        claims = self.provider.verify(logout_token, "logout+jwt", ["jti"])
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise jwt.InvalidTokenError("not a back-channel logout event")
        if "nonce" in claims:
            raise jwt.InvalidTokenError("a logout token has no nonce")
        if not claims.get("sid") and not claims.get("sub"):
            raise jwt.InvalidTokenError("names neither a session nor a user")
        with self.lock:
            # Each claim the token has must match (it has one of them at least).
            ended = [
                sid
                for sid, session in self.sessions.items()
                if claims.get("sid", sid) == sid and claims.get("sub", session.sub) == session.sub
            ]
            for sid in ended:
                del self.sessions[sid]
            self.handles = {h: sid for h, sid in self.handles.items() if sid not in ended}
        for sid in ended:
            print(f"back-channel logout: session {sid} ended", flush=True)
        return len(ended)


def handler(app: WebApp) -> type[BaseHTTPRequestHandler]:
    settings = app.settings
    pending_cookie = f"{settings.cookie}_state"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            session = app.session(self._cookie(settings.cookie))
            if url.path == "/":
                self._page(session)
            elif url.path == "/status":
                status: dict[str, Any] = {"signed_in": session is not None}
                if session:
                    status |= {"username": session.username, "sid": session.sid}
                self._send(200, "application/json", json.dumps(status))
            elif url.path == "/login":
                location, state = app.start_sign_in()
                binding = f"{pending_cookie}={state}; Path=/callback; HttpOnly; SameSite=Lax"
                self._redirect(location, binding)
            elif url.path == "/callback":
                self._callback(query)
            else:
                self._send(404, "text/plain", "not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path == "/backchannel-logout":
                try:
                    app.back_channel_logout(form.get("logout_token", ""))
                except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
                    body = {"error": "invalid_request", "error_description": str(error)}
                    self._send(400, "application/json", json.dumps(body))
                    return
                self._send(200, "text/plain", "")
            elif self.path == "/logout":
                # Ends this app's session at once, then the central one (RP-Initiated
                # Logout 1.0), which signs the user out of every other app too.
                session = app.end(self._cookie(settings.cookie))
                if session is None:
                    self._redirect("/")
                    return
                query = urllib.parse.urlencode(
                    {
                        "id_token_hint": session.id_token,
                        "post_logout_redirect_uri": f"{settings.base_url}/",
                    }
                )
                endpoint = app.provider.metadata["end_session_endpoint"]
                self._redirect(f"{endpoint}?{query}", f"{settings.cookie}=; Max-Age=0; Path=/")
            else:
                self._send(404, "text/plain", "not found")

        def _callback(self, query: dict[str, str]) -> None:
            clear = f"{pending_cookie}=; Max-Age=0; Path=/callback; HttpOnly; SameSite=Lax"
            try:
                handle = app.finish_sign_in(query, self._cookie(pending_cookie))
            except (ValueError, OSError, KeyError, jwt.InvalidTokenError) as error:
                page = f"<p>Sign-in failed: {escape(str(error))}</p><a href='/'>Back</a>"
                self._send(400, "text/html; charset=utf-8", page, (clear,))
                return
            # HttpOnly, SameSite=Lax; on https add Secure.
            session_cookie = f"{settings.cookie}={handle}; Path=/; HttpOnly; SameSite=Lax"
            self._redirect("/", clear, session_cookie)

        def _page(self, session: Session | None) -> None:
            if session:
                body = (
                    f'<p id="status">Signed in as {escape(session.username)}.</p>'
                    f'<p>Central session: <code id="sid">{escape(session.sid)}</code></p>'
                    '<form method="post" action="/logout"><button>Sign out</button></form>'
                )
            else:
                body = '<p id="status">Signed out.</p><a href="/login">Sign in</a>'
            page = (
                '<!doctype html><html lang="en"><meta charset="utf-8">'
                f"<title>Web app</title><h1>Web app (confidential client)</h1>{body}</html>"
            )
            self._send(200, "text/html; charset=utf-8", page)

        def _cookie(self, name: str) -> str | None:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
            return jar[name].value if name in jar else None

        def _redirect(self, location: str, *cookies: str) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, kind: str, body: str, cookies: tuple[str, ...] = ()) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            return

    return Handler


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310
        return dict(json.load(answer))


def main() -> None:
    settings = Settings(
        issuer=os.environ["ISSUER"].rstrip("/"),
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        port=int(os.environ.get("PORT", "8001")),
    )
    app = WebApp(settings, Provider(settings))
    server = ThreadingHTTPServer(("127.0.0.1", settings.port), handler(app))
    print(f"web app ready on {settings.base_url}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
