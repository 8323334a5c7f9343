"""Password change over HTTP, and an external PasswordChanged put on the emulated bus."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.service import BURSTS, Service
from tests.helpers import PASSWORD, burst

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
NEW_PASSWORD = "a brand new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(service: Service, tokens: dict[str, Any]) -> bool:
    access = service.get("/auth/session", headers=bearer(tokens["access_token"]))
    refresh = service.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    return access.status_code == 401 and refresh.status_code == 401


def seconds_until_all_refused(service: Service, sessions: list[dict[str, Any]]) -> float:
    start = time.monotonic()
    pending = list(sessions)
    while pending and time.monotonic() - start < 5:
        pending = [tokens for tokens in pending if not refused(service, tokens)]
        if pending:
            time.sleep(0.05)
    assert not pending, "sessions still alive after 5 s"
    return time.monotonic() - start


def test_changing_the_password_ends_every_other_session_within_two_seconds(
    service: Service,
) -> None:
    # Given three devices
    username = service.new_user()
    devices = [service.login(username) for _ in range(3)]
    # When one of them changes the password
    answer = service.post(
        "/auth/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(devices[0]["access_token"]),
    )
    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    # Then every earlier session, the changing one included, is refused within 2 s
    elapsed = seconds_until_all_refused(service, devices)
    assert elapsed < 2
    print(f"password change → last session refused: {elapsed * 1000:.0f} ms")
    # And the fresh session works, the old password does not, the new one does
    assert service.get("/auth/session", headers=bearer(fresh["access_token"])).status_code == 200
    old = service.post("/auth/login", {"username": username, "password": PASSWORD})
    assert old.status_code == 401
    assert (
        service.post("/auth/login", {"username": username, "password": NEW_PASSWORD}).status_code
        == 200
    )


def test_logins_racing_a_password_change_leave_only_the_fresh_session(
    on_each_backend: Callable[..., Service],
) -> None:
    # Given a signed-in user, and room in the throttle for a burst of right passwords
    service = on_each_backend(**BURSTS)
    username = service.new_user()
    changer = service.login(username)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    old_password = {"username": username, "password": PASSWORD}

    def act(index: int) -> tuple[str, int, str]:
        if index == 0:
            answer = service.post("/auth/password", change, headers=bearer(changer["access_token"]))
        else:
            answer = service.post("/auth/login", old_password)
        tokens = answer.json() if answer.status_code == 200 else {}
        return ("change" if index == 0 else "login", answer.status_code, json.dumps(tokens))

    # When logins with the old password race the change (released together; which of
    # them land before it varies from run to run, and what follows holds for every order)
    outcomes = burst(8, act)
    # Then the change went through; each login either came before it or was refused
    (fresh,) = [json.loads(tokens) for kind, status, tokens in outcomes if kind == "change"]
    assert {(kind, status) for kind, status, _ in outcomes} <= {
        ("change", 200),
        ("login", 200),
        ("login", 401),
    }
    # And no session from before the change survives it: the fresh one is the only one
    earlier = [json.loads(t) for kind, status, t in outcomes if kind == "login" and status == 200]
    assert all(refused(service, tokens) for tokens in [changer, *earlier])
    listed = service.get("/auth/sessions", headers=bearer(fresh["access_token"]))
    assert [s["session_id"] for s in listed.json()["sessions"]] == [fresh["session_id"]]


def test_an_external_password_changed_on_the_bus_ends_sessions_within_two_seconds(
    configured: Callable[..., Service],
) -> None:
    # Given a local run that also trusts an external directory's events
    service = configured(EXTERNAL_PASSWORD_CHANGE_SOURCES="com.example.directory")
    username = service.new_user()
    devices = [service.login(username) for _ in range(2)]
    user_id = service.get("/auth/session", headers=bearer(devices[0]["access_token"])).json()[
        "user_id"
    ]
    events = service.aws("events")
    (bus,) = [b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default"]
    # When the directory announces a password change
    time.sleep(0.01)
    detail = {"user_id": user_id, "changed_at": datetime.now(UTC).isoformat()}
    put = events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "com.example.directory",
                "DetailType": "PasswordChanged",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert put["FailedEntryCount"] == 0
    # Then both sessions end within 2 s, and a new login works
    elapsed = seconds_until_all_refused(service, devices)
    assert elapsed < 2
    print(f"external PasswordChanged → last session refused: {elapsed * 1000:.0f} ms")
    assert service.login(username)["access_token"]


def test_an_event_from_an_unknown_source_changes_nothing(service: Service) -> None:
    if not service.output:
        pytest.skip("needs the local run's emulator")
    username = service.new_user()
    tokens = service.login(username)
    user_id = service.get("/auth/session", headers=bearer(tokens["access_token"])).json()["user_id"]
    events = service.aws("events")
    (bus,) = [b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default"]
    detail = {"user_id": user_id, "changed_at": datetime.now(UTC).isoformat()}
    events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "someone.else",
                "DetailType": "PasswordChanged",
                "Detail": json.dumps(detail),
            }
        ]
    )
    time.sleep(1.5)
    assert service.get("/auth/session", headers=bearer(tokens["access_token"])).status_code == 200
