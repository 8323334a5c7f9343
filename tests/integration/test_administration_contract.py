"""An administrator's disable over each store (in memory, moto, DynamoDB Local), racing a
burst of logins: once it has landed, no session of the user is live and none starts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Services
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.ports import SessionStore
from tests.helpers import burst, outcome
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"


def test_a_disable_racing_a_burst_of_logins_leaves_no_session(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(throttle=ROOM_FOR_BURSTS, max_sessions_per_user=50)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)

    def act(index: int) -> str:
        if index == 0:
            services.administration.disable(user_id)
            return "disabled"
        return outcome(lambda: services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT)))

    outcomes = burst(9, act)
    assert outcomes["disabled"] == 1
    assert set(outcomes) <= {"disabled", "ok", "InvalidGrant"}
    # Whatever landed before the disable was ended by it; nothing landed after it
    state = store.load_user(user_id)
    assert state is not None
    assert state.profile.disabled
    assert state.live(services.sessions.now()) == []
    assert outcome(lambda: services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))) == (
        "InvalidGrant"
    )
