"""`make smoke`, the check after a deployment, against the local run: it passes on a
working stack, and says which step failed when one does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from local_run.template import ROOT
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
APP = "http://app.example.test"


def smoke(service: Service, origin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/smoke.py", "--api-url", service.base_url, "--origin", origin],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_smoke_test_passes_on_a_working_stack(configured: Callable[..., Service]) -> None:
    run = smoke(configured(ALLOWED_ORIGINS=APP), APP)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "ok   JWKS has a signing key",
        "ok   register",
        "ok   log in",
        "ok   refresh",
        "ok   the session is live",
        "ok   log out",
        "ok   the ended session is refused",
        f"ok   a preflight from {APP}",
    ]


def test_the_smoke_test_fails_on_a_preflight_the_stack_does_not_allow(
    configured: Callable[..., Service],
) -> None:
    run = smoke(configured(ALLOWED_ORIGINS=APP), "http://elsewhere.example.test")
    assert run.returncode == 1
    refused = "http://elsewhere.example.test"
    assert run.stdout.splitlines()[-1] == (
        f"FAIL a preflight from {refused}: 204, Access-Control-Allow-Origin: None, "
        "-Methods: , -Headers: "
    )
