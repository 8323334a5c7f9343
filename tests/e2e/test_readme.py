"""The README's curl examples, run as written against the local run on each DynamoDB
backend: every one of them succeeds (`make run` and `LOCAL_DYNAMODB=dynamodb-local make run`
serve what the README promises)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable

import pytest

from local_run.template import ROOT
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl"),
]
NEW_PASSWORD = "a brand new passphrase"  # the README's


def readme_examples() -> list[str]:
    """The curl commands of the README's API block, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```sh\nAPI=http://127\.0\.0\.1:3000\n(.*?)```", text, re.S)
    assert match, "the README's API examples are gone"
    lines = match.group(1).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip().startswith("curl ")]


def test_the_readme_has_an_example_of_every_route() -> None:
    examples = readme_examples()
    assert len(examples) == 12
    routes = {
        "/auth/register", "/auth/login", "/auth/session", "/auth/refresh", "/auth/logout",
        "/auth/password", "/auth/sessions", "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    }  # fmt: skip
    assert all(any(f"$API{route}" in example for example in examples) for route in routes)


def test_every_readme_example_succeeds(on_each_backend: Callable[..., Service]) -> None:
    service = on_each_backend()
    if DEPLOYED_URL:
        pytest.skip("registers a user under a name of the README's")
    username = f"e2e-readme-{uuid.uuid4().hex[:12]}"
    password = PASSWORD
    for example in readme_examples():
        command = example.replace('"username": "ada"', f'"username": "{username}"')
        env = {
            "API": service.base_url,
            "JSON": "content-type: application/json",
            "PATH": "/usr/bin:/bin",
        }
        if "/auth/register" not in command and "/auth/login" not in command:
            tokens = _login(service, username, password)
            env |= {
                "ACCESS_TOKEN": tokens["access_token"],
                "REFRESH_TOKEN": tokens["refresh_token"],
                "SESSION_ID": tokens["session_id"],
            }
        run = subprocess.run(
            ["bash", "-c", f"{command} -o /dev/null -w '%{{http_code}}'"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert run.returncode == 0, (example, run.stderr)
        assert run.stdout.startswith("2"), (example, run.stdout)
        if "/auth/password" in command:
            password = NEW_PASSWORD


def _login(service: Service, username: str, password: str) -> dict[str, str]:
    """A fresh session for the examples that need a token (some end theirs)."""
    answer = service.post("/auth/login", {"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
