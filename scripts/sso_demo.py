"""`make sso-demo`: single sign-on to try by hand. A local run (as `make run`), the two
example apps beside it (examples/sso_web_app, a confidential client with back-channel
logout; examples/sso_spa, a public single-page app) registered through the signed admin
API, and a demo user. Sign in to one app with the password, open the other: signed in
already. Sign out in either: the web app hears it at once (back-channel logout), the SPA at
its next refresh. Ctrl-C stops everything.

PORT (3000), WEB_APP_PORT (8001) and SPA_PORT (8002) move the ports; the run's other
settings are read from the environment as `make run` reads them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.sso_examples import ExampleApp, start_spa, start_web_app
from local_run import launcher

DEMO_USER = {"username": "demo", "password": "correct horse battery staple"}


def _register_user(base_url: str) -> None:
    request = urllib.request.Request(  # noqa: S310 (the local run's loopback URL)
        f"{base_url}/auth/register",
        data=json.dumps(DEMO_USER).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=30).close()  # noqa: S310
    except urllib.error.HTTPError as error:
        if error.code != 409:  # 409: registered already (the run keeps its data)
            raise


def _watch(process: subprocess.Popen[str], stopped: threading.Event) -> None:
    process.wait()
    stopped.set()


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    port = int(os.environ.get("PORT", "3000"))
    web_port = int(os.environ.get("WEB_APP_PORT", "8001"))
    spa_port = int(os.environ.get("SPA_PORT", "8002"))
    # The SPA's page calls the token endpoint from its own origin: CORS must allow it.
    origins = [o for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o]
    origins.append(f"http://127.0.0.1:{spa_port}")
    print(f"starting the local run on http://127.0.0.1:{port} ...", flush=True)
    run = launcher.start({"PORT": str(port), "ALLOWED_ORIGINS": ",".join(origins)})
    apps: list[ExampleApp] = []
    try:
        _register_user(run.base_url)
        apps.append(start_web_app(run.base_url, web_port, echo=True))
        apps.append(start_spa(run.base_url, spa_port, echo=True))
        print(
            "\nSingle sign-on demo (Ctrl-C stops it all):\n"
            f"  the service:             {run.base_url}\n"
            f"  web app (confidential):  {apps[0].url}\n"
            f"  SPA (public):            {apps[1].url}\n"
            f"  sign in as {DEMO_USER['username']!r}, "
            f"password {DEMO_USER['password']!r}\n"
            "Sign in to one with the password, open the other (no password asked), then\n"
            "sign out in either: the web app hears it at once, the SPA at its next refresh.\n",
            flush=True,
        )
        # Until Ctrl-C, or until one of them stops by itself
        stopped = threading.Event()
        for process in [run.process, *(app.process for app in apps)]:
            threading.Thread(target=_watch, args=(process, stopped), daemon=True).start()
        stopped.wait()
        print("a process stopped: stopping the demo", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for app in apps:
            app.stop()
        run.stop()


if __name__ == "__main__":
    main()
