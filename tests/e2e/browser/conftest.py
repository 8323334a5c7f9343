"""Headless Chromium (Debian's package, `make browser`) and the local run in cookie mode
whose demo page it drives."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    sync_playwright,
)

from local_run.launcher import free_port
from tests.e2e.browser.pages import ATTACKER_PAGE, CHROMIUM, CHROMIUM_ARGS
from tests.e2e.service import DEPLOYED_URL, Service

# The port of each cookie-mode configuration, chosen once per worker: the modules that ask
# for the same configuration share its local run (tests.e2e.local_runs keys runs by their
# settings, the port included), rather than each starting one of its own.
_PORTS: dict[tuple[tuple[str, str], ...], int] = {}


def _cookie_mode(local_services: Callable[..., Service], **settings: str) -> Service:
    """A local run in cookie mode whose own origin (the demo page's) is the allowed one."""
    if DEPLOYED_URL:
        pytest.skip("needs a local run in cookie mode serving the demo page")
    port = _PORTS.setdefault(tuple(sorted(settings.items())), free_port())
    return local_services(
        PORT=str(port),
        REFRESH_TOKEN_TRANSPORT="cookie",
        ALLOWED_ORIGINS=f"http://127.0.0.1:{port}",
        **settings,
    )


@pytest.fixture(scope="module")
def cookie_service(local_services: Callable[..., Service]) -> Service:
    """Cookie mode with a grace window (two tabs may refresh at once). Wider than the
    default: the second of two refreshes at once may wait for a function process's cold
    start, seconds on a loaded machine, and must still land inside it."""
    return _cookie_mode(local_services, REFRESH_REUSE_GRACE_SECONDS="30")


@pytest.fixture(scope="module")
def step_up_service(local_services: Callable[..., Service]) -> Service:
    """Cookie mode whose sign-ins age fast: a step-up is asked for within seconds."""
    return _cookie_mode(local_services, REAUTH_MAX_AGE_SECONDS="3")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}: `make browser` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Browser contexts: each one is another device, with a cookie jar of its own."""
    contexts: list[BrowserContext] = []

    def new() -> BrowserContext:
        context = browser.new_context(
            viewport={"width": 900, "height": 600}, locale="en-US", timezone_id="UTC"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    return new_context()


@pytest.fixture(scope="module")
def attacker_port(cookie_service: Service) -> Iterator[int]:
    """A plain HTTP server of another origin serving ATTACKER_PAGE."""
    page = ATTACKER_PAGE.format(api=cookie_service.base_url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
