"""The two single sign-on example apps (examples/sso_web_app, examples/sso_spa) beside a
local run: their clients registered through the signed admin API, each app started in a
process of its own on its loopback port. What `make sso-demo` and the browser test share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.credentials import Credentials

from local_run.lifetime import stop_process
from local_run.sigv4 import signed_headers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
READY_SECONDS = 30


def register_client(
    base_url: str, body: Mapping[str, Any], access_key: str = "local", region: str = "us-east-1"
) -> dict[str, Any]:
    """POST /admin/clients, signed with the local run's credentials (secret `local`)."""
    url = f"{base_url}/admin/clients"
    data = json.dumps(body).encode()
    headers = signed_headers(
        "POST", url, data, Credentials(access_key, "local"), region, {"host": url.split("/")[2]}
    )
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return dict(json.load(answer))
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"registering {body['name']}: {error.code} {error.read()!r}") from None


@dataclass
class ExampleApp:
    """One example app's process, its URL and what it printed."""

    url: str
    client_id: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    printed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_line(self, line: str, timeout: float = 10) -> bool:
        """Whether the app printed this line (the newline left off) within `timeout`."""
        with self.printed:
            return self.printed.wait_for(lambda: f"{line}\n" in self.output, timeout)

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def start_web_app(
    issuer: str, port: int, access_key: str = "local", echo: bool = False
) -> ExampleApp:
    """The confidential app, registered with its back-channel logout URI."""
    url = f"http://127.0.0.1:{port}"
    client = register_client(
        issuer,
        {
            "name": "Example web app",
            "type": "confidential",
            "redirect_uris": [f"{url}/callback"],
            "post_logout_redirect_uris": [f"{url}/"],
            "backchannel_logout_uri": f"{url}/backchannel-logout",
        },
        access_key,
    )
    settings = {"CLIENT_ID": client["client_id"], "CLIENT_SECRET": client["client_secret"]}
    return _start(EXAMPLES / "sso_web_app" / "app.py", issuer, port, client, settings, echo)


def start_spa(
    issuer: str,
    port: int,
    access_key: str = "local",
    refresh_seconds: int = 30,
    echo: bool = False,
) -> ExampleApp:
    """The public single-page app; its origin must be in the run's ALLOWED_ORIGINS."""
    url = f"http://127.0.0.1:{port}"
    client = register_client(
        issuer,
        {
            "name": "Example SPA",
            "type": "public",
            "redirect_uris": [f"{url}/"],
            "post_logout_redirect_uris": [f"{url}/"],
        },
        access_key,
    )
    settings = {"CLIENT_ID": client["client_id"], "REFRESH_SECONDS": str(refresh_seconds)}
    return _start(EXAMPLES / "sso_spa" / "serve.py", issuer, port, client, settings, echo)


def _start(
    script: Path,
    issuer: str,
    port: int,
    client: Mapping[str, Any],
    settings: Mapping[str, str],
    echo: bool,
) -> ExampleApp:
    env = {**os.environ, **settings, "ISSUER": issuer, "PORT": str(port)}
    process = subprocess.Popen(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = ExampleApp(f"http://127.0.0.1:{port}/", str(client["client_id"]), process)
    ready = threading.Event()
    assert process.stdout is not None
    threading.Thread(target=_collect, args=(process.stdout, app, ready, echo), daemon=True).start()
    deadline = time.monotonic() + READY_SECONDS
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            app.stop()
            raise RuntimeError(f"{script.parent.name} did not start:\n{''.join(app.output)}")
    return app


def _collect(stream: TextIO, app: ExampleApp, ready: threading.Event, echo: bool) -> None:
    for line in stream:
        with app.printed:
            app.output.append(line)
            app.printed.notify_all()
        if echo:
            print(line, end="", flush=True)
        if " ready on " in line:
            ready.set()
