"""Back-channel logout's delivery settings: which registered URIs name the machine they are
called from (on AWS, the Lambda environment itself), the setting that lets the local run
deliver there (BACKCHANNEL_LOOPBACK, off unless set), and a function timeout that leaves
the deliveries' deadline its room."""

from __future__ import annotations

import pytest

from local_run.expansion import deployed_template
from session_service.config import ConfigurationError, Settings
from session_service.domain.sso.backchannel import DELIVERY_SECONDS, MARGIN_SECONDS
from session_service.domain.sso.redirect_uris import reaches_loopback

BASE = {"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "TOKEN_ISSUER": "https://i.example"}


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8400/backchannel-logout",
        "http://localhost/logout",
        "http://LOCALHOST:3000/logout",
        "http://[::1]:9/logout",
        "https://127.0.0.2/logout",
        "https://[::ffff:127.0.0.1]/logout",
        "https://0.0.0.0/logout",
        "https://[::]/logout",
        "https://app.localhost/logout",
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
    ],
)
def test_a_loopback_uri_is_seen_whatever_its_scheme(uri: str) -> None:
    assert reaches_loopback(uri) is True


@pytest.mark.parametrize(
    "uri",
    [
        "https://billing.example.com/logout",
        "https://localhost.example.com/logout",
        "https://10.0.0.1/logout",
        "https://[2001:db8::1]/logout",
        "https://128.0.0.1/logout",
        "not a uri",
    ],
)
def test_any_other_uri_is_not_loopback(uri: str) -> None:
    assert reaches_loopback(uri) is False


def test_loopback_delivery_is_off_unless_set() -> None:
    assert Settings.from_env(BASE).backchannel_loopback is False
    assert Settings.from_env({**BASE, "BACKCHANNEL_LOOPBACK": "on"}).backchannel_loopback is True
    assert Settings.from_env({**BASE, "BACKCHANNEL_LOOPBACK": "off"}).backchannel_loopback is False


def test_a_loopback_setting_that_is_neither_on_nor_off_stops_the_cold_start() -> None:
    with pytest.raises(ConfigurationError, match="BACKCHANNEL_LOOPBACK must be on or off"):
        Settings.from_env({**BASE, "BACKCHANNEL_LOOPBACK": "sometimes"})


def test_the_functions_timeout_leaves_the_deadline_and_its_margin_room() -> None:
    # Given the function as deployed
    function = deployed_template().functions()["BackchannelLogoutFunction"]["Properties"]
    # Then a batch's deliveries get the contract's whole 5 s, and what follows its margin
    assert function["Timeout"] >= DELIVERY_SECONDS + MARGIN_SECONDS
