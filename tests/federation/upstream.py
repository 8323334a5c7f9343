"""An upstream OpenID Connect provider for the federation tests: Node's oidc-provider
(OpenID Certified), run by tests/federation/upstream_provider.mjs on 127.0.0.1 with the
clients and the signing keys a test gives it, and no login page: every authorization signs
in as the account of the last `sign_in_as` and is granted what it asks for.
`make oidc-provider` installs it in .oidc-provider/."""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from types import TracebackType
from typing import IO, Any, Self

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local_run.template import ROOT

NODE_MODULES = ROOT / ".oidc-provider" / "node_modules"
OIDC_PROVIDER_MODULE = NODE_MODULES / "oidc-provider" / "lib" / "index.js"
SCRIPT = ROOT / "tests" / "federation" / "upstream_provider.mjs"
START_TIMEOUT = 20.0
MAX_REDIRECTS = 15


def signing_key() -> dict[str, Any]:
    """A fresh RSA private JWK (RS256, use sig, a kid of its own): the provider signs its
    ID tokens with it, and a test holding it can sign tokens as the provider."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = dict(RSAAlgorithm.to_jwk(key, as_dict=True))
    jwk.update(kid=uuid.uuid4().hex, alg="RS256", use="sig")
    return jwk


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UpstreamProvider:
    """`with UpstreamProvider().start(clients) as upstream: ...`, or start() and stop()."""

    def __init__(self) -> None:
        self.issuer = ""
        self.signing_jwk: dict[str, Any] = {}
        self.jwks_keys: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    def start(
        self,
        clients: list[dict[str, Any]],
        jwks_keys: list[dict[str, Any]] | None = None,
        port: int | None = None,
    ) -> Self:
        """Starts the provider with these clients (client_id, client_secret, redirect_uris;
        token_endpoint_auth_method client_secret_basic unless given) and these private JWKs
        (the first signs; a fresh RS256 key when None), and returns once its discovery
        document answers."""
        if self._process is not None:
            raise RuntimeError("the upstream provider is already running")
        node = shutil.which("node")
        assert node, "Node.js runs the upstream provider (make oidc-provider installs it)"
        assert OIDC_PROVIDER_MODULE.exists(), "make oidc-provider installs Node's oidc-provider"
        port = free_port() if port is None else port
        self.issuer = f"http://127.0.0.1:{port}"
        self.jwks_keys = list(jwks_keys) if jwks_keys else [signing_key()]
        self.signing_jwk = self.jwks_keys[0]
        config = {
            "port": port,
            "issuer": self.issuer,
            "clients": clients,
            "jwks": {"keys": self.jwks_keys},
        }
        env = {
            "PATH": os.environ["PATH"],
            "UPSTREAM_CONFIG": json.dumps(config),
            "OIDC_PROVIDER_MODULE": str(OIDC_PROVIDER_MODULE),
        }
        # Open while the provider runs (its stdout and stderr); stop() closes it.
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the upstream provider exited ({self._process.returncode}) before it "
                    f"answered:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the upstream provider did not answer {url} within {START_TIMEOUT:.0f} s:"
                    f"\n{self.output()}"
                )
            time.sleep(0.05)

    def output(self) -> str:
        """What the provider wrote to stdout and stderr so far."""
        if self._output is None:
            return ""
        self._output.flush()
        self._output.seek(0)
        text = self._output.read().decode(errors="replace")
        self._output.seek(0, os.SEEK_END)
        return text

    def sign_in_as(
        self,
        sub: str,
        email: str | None = None,
        email_verified: bool = True,
        name: str | None = None,
    ) -> None:
        """Every authorization from now on signs in as this account (POST /test/account)."""
        body: dict[str, Any] = {"sub": sub, "email": email, "email_verified": email_verified}
        if name is not None:
            body["name"] = name
        request = urllib.request.Request(  # noqa: S310 (the provider's loopback URL)
            f"{self.issuer}/test/account",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            assert answer.status == 204, answer.status

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> Self:
        if self._process is None:
            raise RuntimeError("start() the upstream provider before entering it")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def follow_to_callback(
    authorization_url: str,
    callback_prefix: str,
    cookies: http.cookiejar.CookieJar | None = None,
) -> str:
    """Follows the provider's redirects from an authorization URL as a browser would (with a
    cookie jar: a fresh one unless given), and returns the first Location that starts with
    callback_prefix (with its code and state) without requesting it."""
    jar = http.cookiejar.CookieJar() if cookies is None else cookies
    # build_opener's handlers but the redirect one: a 3xx comes back as an HTTPError.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPCookieProcessor(jar),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    url = authorization_url
    for _ in range(MAX_REDIRECTS):
        try:
            with opener.open(url, timeout=10) as answer:
                status, body = answer.status, answer.read()
                location = None
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
            location = error.headers.get("Location")
            error.close()
        if status not in {301, 302, 303, 307, 308} or not location:
            raise AssertionError(
                f"{url} answered {status} rather than a redirect:\n"
                f"{body.decode(errors='replace')[:2000]}"
            )
        url = urllib.parse.urljoin(url, location)
        if url.startswith(callback_prefix):
            return url
    raise AssertionError(
        f"no redirect to {callback_prefix} within {MAX_REDIRECTS} redirects (last: {url})"
    )
