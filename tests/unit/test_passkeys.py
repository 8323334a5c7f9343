"""Passkeys: registration (a challenge of the user's, verified by py_webauthn, single
use), signing in with and without a username, the sign count, and what a passkey
sign-in counts as (amr, MFA_POLICY, step-up)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.domain import CLIENT, RELYING_PARTY, Domain
from harness.soft_authenticator import SoftAuthenticator, unb64url
from session_service.domain.errors import (
    Conflict,
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    RateLimited,
)
from session_service.domain.factors.passkeys import MAX_PASSKEYS
from session_service.domain.flows.passkey_sign_in import PasskeyLoginRequest
from session_service.domain.flows.step_up import PasskeyReauthCall
from session_service.domain.sessions.session_records import IssuedTokens
from tests.helpers import (
    add_passkey,
    enroll_totp,
    factor_change,
    login_as,
    passkey_authenticator,
    passkey_sign_in,
    register_and_login,
    totp_code,
)

# A session that proved a second factor: what changing the second factors of an account
# that has one asks for.
PROVED = ("hwk", "user")


def test_creation_options_ask_for_a_verified_discoverable_passkey_and_exclude_the_users_own(
    domain: Domain,
) -> None:
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    first = add_passkey(domain, issued, passkey_authenticator())
    options = domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    assert options["rp"] == {"id": RELYING_PARTY.rp_id, "name": RELYING_PARTY.rp_name}
    assert unb64url(options["user"]["id"]).decode() == user_id
    assert options["user"]["name"] == "ada"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["timeout"] == 300_000
    assert len(unb64url(options["challenge"])) == 32
    # The passkey already registered is excluded, by its credential id
    stored = domain.store.passkeys[(user_id, first)]
    assert [unb64url(c["id"]) for c in options["excludeCredentials"]] == [stored.credential_id]
    assert options["excludeCredentials"][0]["transports"] == ["internal"]


def test_a_registration_stores_the_key_its_count_and_transports_and_spends_its_challenge(
    domain: Domain,
) -> None:
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    authenticator = passkey_authenticator()
    options = domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    attestation = authenticator.create(options)
    passkey = domain.passkeys.register(factor_change(issued, amr=PROVED), attestation, "Laptop")
    assert passkey.credential_id == unb64url(attestation["rawId"])
    assert (passkey.sign_count, passkey.transports, passkey.name) == (0, ("internal",), "Laptop")
    assert domain.store.passkeys[(user_id, passkey.passkey_id)] == passkey
    assert [e.event_type for e in domain.store.account_events] == ["PasskeyAdded"]
    assert domain.store.account_events[0].passkey_id == passkey.passkey_id
    # The challenge is spent: the same attestation again finds nothing pending
    with pytest.raises(Conflict, match="No passkey registration is pending"):
        domain.passkeys.register(factor_change(issued, amr=PROVED), attestation, None)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"origin": "https://evil.example"}, "another origin"),
        ({"rp_id": "evil.example"}, "another relying party"),
    ],
)
def test_an_attestation_from_elsewhere_is_refused(
    domain: Domain, change: dict[str, str], why: str
) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    if "rp_id" in change:
        authenticator.rp_id = change["rp_id"]
    options = domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    attestation = authenticator.create(options, origin=change.get("origin"))
    with pytest.raises(InvalidRequest):
        domain.passkeys.register(factor_change(issued, amr=PROVED), attestation, None)
    assert domain.store.passkeys == {}, why


def test_an_attestation_of_another_challenge_is_refused(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    old = domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    # Options asked again replace the pending challenge
    domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    with pytest.raises(InvalidRequest):
        domain.passkeys.register(factor_change(issued, amr=PROVED), authenticator.create(old), None)


def test_a_registration_after_its_300_seconds_is_refused(domain: Domain) -> None:
    issued = register_and_login(domain)
    options = domain.passkeys.registration_options(factor_change(issued, amr=PROVED))
    domain.clock.advance(300)
    with pytest.raises(Conflict):
        domain.passkeys.register(
            factor_change(issued, amr=PROVED), passkey_authenticator().create(options), None
        )


def test_a_user_holds_at_most_max_passkeys(domain: Domain) -> None:
    issued = register_and_login(domain)
    for _ in range(MAX_PASSKEYS):
        add_passkey(domain, issued, passkey_authenticator())
    with pytest.raises(Conflict, match=f"{MAX_PASSKEYS} passkeys"):
        domain.passkeys.registration_options(factor_change(issued, amr=PROVED))


@pytest.mark.parametrize("username", [None, "ada", "ADA"])
def test_a_passkey_signs_in_with_or_without_a_username(
    domain: Domain, username: str | None
) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    passkey_id = add_passkey(domain, issued, authenticator)
    signed_in = passkey_sign_in(domain, authenticator, username)
    assert signed_in.session.user_id == issued.session.user_id
    assert signed_in.session.amr == ("hwk", "user")
    claims = domain.access_tokens.verify(signed_in.access_token)
    assert claims.amr == ("hwk", "user")
    assert claims.auth_time == domain.clock() // 1
    stored = domain.store.passkeys[(issued.session.user_id, passkey_id)]
    assert (stored.sign_count, stored.last_used_at) == (1, int(domain.clock() * 1000))


def test_a_synced_passkey_signs_in_as_swk(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator(synced=True)
    add_passkey(domain, issued, authenticator)
    signed_in = passkey_sign_in(domain, authenticator)
    assert signed_in.session.amr == ("swk", "user")


def test_the_username_given_must_own_the_passkey(domain: Domain) -> None:
    issued = register_and_login(domain)
    register_and_login(domain, "bob")
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    # Options for bob (who has no passkey) list a made-up one; ada's cannot answer them
    ceremony_id, options = domain.passkeys.sign_in_options("bob")
    [bobs] = options["allowCredentials"]
    assert unb64url(bobs["id"]) not in authenticator.credentials
    request = PasskeyLoginRequest(ceremony_id, authenticator.get(options), CLIENT)
    with pytest.raises(InvalidGrant):
        domain.passkey_sign_in.login(request)
    # An unknown username's options look the same as bob's: one made-up passkey, the same
    # every time, like a real one's
    _, unknown = domain.passkeys.sign_in_options("nobody")
    [made_up] = unknown["allowCredentials"]
    assert made_up == domain.passkeys.sign_in_options("Nobody")[1]["allowCredentials"][0]
    assert made_up["id"] != bobs["id"]
    assert made_up["transports"] == ["internal", "hybrid"]
    assert len(unb64url(made_up["id"])) == 32


def test_a_ceremony_is_good_once_and_for_300_seconds(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    ceremony_id, options = domain.passkeys.sign_in_options(None)
    domain.passkey_sign_in.login(
        PasskeyLoginRequest(ceremony_id, authenticator.get(options), CLIENT)
    )
    again = PasskeyLoginRequest(ceremony_id, authenticator.get(options), CLIENT)
    with pytest.raises(InvalidGrant, match="ceremony_id"):
        domain.passkey_sign_in.login(again)
    late_id, late_options = domain.passkeys.sign_in_options(None)
    domain.clock.advance(300)
    late = PasskeyLoginRequest(late_id, authenticator.get(late_options), CLIENT)
    with pytest.raises(InvalidGrant, match="ceremony_id"):
        domain.passkey_sign_in.login(late)


@pytest.mark.parametrize(
    "assertion",
    [{"origin": "https://evil.example"}, {"verified": False}],
    ids=["another origin", "user not verified"],
)
def test_an_assertion_that_does_not_verify_is_invalid_grant_and_counts(
    domain: Domain, assertion: dict[str, Any]
) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    for _ in range(5):
        with pytest.raises(InvalidGrant):
            passkey_sign_in(domain, authenticator, **assertion)
    # The sixth is not judged: the username is throttled from this address
    with pytest.raises(RateLimited):
        passkey_sign_in(domain, authenticator)
    attempts = domain.store.login_attempts
    assert [a.throttled for a in attempts] == [False] * 5 + [True]
    assert {a.user_id for a in attempts} == {issued.session.user_id}


def test_a_sign_count_that_goes_backwards_is_refused_and_recorded(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    passkey_id = add_passkey(domain, issued, authenticator)
    passkey_sign_in(domain, authenticator)
    passkey_sign_in(domain, authenticator)  # the count is now 2
    with pytest.raises(InvalidGrant):
        passkey_sign_in(domain, authenticator, sign_count=2)
    stored = domain.store.passkeys[(issued.session.user_id, passkey_id)]
    assert stored.sign_count == 2
    regressed = domain.store.account_events[-1]
    assert regressed.event_type == "PasskeySignCountRegressed"
    # (its one activity line comes from that record: no failed-login record besides)
    assert domain.store.login_attempts == []
    assert (regressed.passkey_id, regressed.ip) == (passkey_id, CLIENT.ip)
    # The genuine authenticator, counting on, still signs in
    assert passkey_sign_in(domain, authenticator).session.amr == ("hwk", "user")


def test_a_disabled_account_cannot_sign_in_with_a_passkey(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    domain.administration.disable(issued.session.user_id)
    with pytest.raises(InvalidGrant):
        passkey_sign_in(domain, authenticator)


def test_a_passkey_steps_up_the_session_and_a_users_own_passkey_only(domain: Domain) -> None:
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    other = register_and_login(domain, "bob")
    bobs = passkey_authenticator()
    add_passkey(domain, other, bobs, "bob")
    domain.clock.advance(60)

    def step_up(device: SoftAuthenticator) -> IssuedTokens:
        ceremony_id, options = domain.passkeys.sign_in_options(None)
        call = PasskeyReauthCall(
            issued.session.user_id,
            "ada",
            issued.session.session_id,
            ceremony_id,
            device.get(options),
            CLIENT,
        )
        return domain.step_up.with_passkey(call)

    with pytest.raises(InvalidGrant):
        step_up(bobs)
    stepped = step_up(authenticator)
    session = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    assert session.step_ups is not None
    assert session.step_ups[-1].auth_time == int(domain.clock() * 1000)
    assert session.step_ups[-1].amr == ("hwk", "user")
    assert stepped.session.session_id == issued.session.session_id


def test_a_passkey_signs_in_an_account_with_totp_on_without_a_code(domain: Domain) -> None:
    issued = register_and_login(domain)
    enroll_totp(domain, issued)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator)
    assert passkey_sign_in(domain, authenticator).session.amr == ("hwk", "user")


def test_remove_a_passkey_and_it_no_longer_signs_in(domain: Domain) -> None:
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    authenticator = passkey_authenticator()
    passkey_id = add_passkey(domain, issued, authenticator)
    domain.passkeys.remove(factor_change(issued, amr=PROVED), passkey_id, keep_a_factor=False)
    assert domain.passkeys.list(user_id) == []
    assert domain.store.account_events[-1].event_type == "PasskeyRemoved"
    with pytest.raises(InvalidGrant):
        passkey_sign_in(domain, authenticator)
    with pytest.raises(NotFound):
        domain.passkeys.remove(factor_change(issued, amr=PROVED), passkey_id, keep_a_factor=False)


def test_under_mfa_required_the_last_second_factor_stays(domain: Domain) -> None:
    issued = register_and_login(domain)
    first = add_passkey(domain, issued, passkey_authenticator())
    second = add_passkey(domain, issued, passkey_authenticator())
    domain.passkeys.remove(factor_change(issued, amr=PROVED), first, keep_a_factor=True)
    with pytest.raises(Conflict, match="last second factor"):
        domain.passkeys.remove(factor_change(issued, amr=PROVED), second, keep_a_factor=True)
    # With TOTP on, the last passkey may go
    enroll_totp(domain, issued, amr=PROVED)
    domain.passkeys.remove(factor_change(issued, amr=PROVED), second, keep_a_factor=True)


def test_another_users_passkey_is_not_found(domain: Domain) -> None:
    issued = register_and_login(domain)
    passkey_id = add_passkey(domain, issued, passkey_authenticator())
    other = register_and_login(domain, "bob")
    with pytest.raises(NotFound):
        domain.passkeys.remove(factor_change(other, "bob", PROVED), passkey_id, keep_a_factor=False)


def test_options_for_an_unknown_username_cost_what_a_known_users_do(domain: Domain) -> None:
    register_and_login(domain, "bob")  # a user without passkeys

    def calls_for(username: str) -> list[str]:
        domain.store.calls.clear()
        domain.passkeys.sign_in_options(username)
        return list(domain.store.calls)

    expected = ["find_credential", "passkeys", "put_sign_in"]
    assert calls_for("nobody") == calls_for("bob") == expected


def test_the_password_alone_cannot_change_the_factors_of_an_account_that_has_one(
    domain: Domain,
) -> None:
    # A user with a passkey, and a session that proved the password only (from before)
    issued = register_and_login(domain)
    passkey_id = add_passkey(domain, issued, passkey_authenticator())
    with_password = issued
    # cannot add a passkey or an authenticator app of their own, nor remove the passkey
    with pytest.raises(InsufficientUserAuthentication) as refused:
        domain.passkeys.registration_options(factor_change(with_password))
    assert refused.value.max_age == 900
    with pytest.raises(InsufficientUserAuthentication):
        domain.second_factors.begin_totp(factor_change(with_password))
    with pytest.raises(InsufficientUserAuthentication):
        domain.passkeys.remove(factor_change(with_password), passkey_id, keep_a_factor=False)
    # while a session that proved the passkey can
    assert domain.passkeys.registration_options(factor_change(with_password, amr=PROVED))


def test_a_first_factor_is_added_from_a_password_session(domain: Domain) -> None:
    issued = register_and_login(domain)
    assert issued.session.amr == ("pwd",)
    add_passkey(domain, issued, passkey_authenticator(), amr=issued.session.amr)
    assert domain.store.credentials["ada"].passkeys == 1


def test_an_enrollment_begun_without_a_factor_is_not_finished_once_the_account_has_one(
    domain: Domain,
) -> None:
    # Someone with the password begins TOTP and asks for passkey options while the
    # account has no factor; the owner then adds a passkey
    issued = register_and_login(domain)
    attacker = login_as(domain)
    setup = domain.second_factors.begin_totp(factor_change(attacker))
    options = domain.passkeys.registration_options(factor_change(attacker))
    attestation = passkey_authenticator().create(options)
    add_passkey(domain, issued, passkey_authenticator(), amr=issued.session.amr)
    # Neither enrollment is finished by the password-only session
    code = totp_code(setup.secret, domain.clock())
    with pytest.raises(InsufficientUserAuthentication):
        domain.second_factors.confirm_totp(
            factor_change(attacker), attacker.session.session_id, code
        )
    with pytest.raises(InsufficientUserAuthentication):
        domain.passkeys.register(factor_change(attacker), attestation, None)
    assert domain.store.credentials["ada"].totp is None
    assert domain.store.credentials["ada"].passkeys == 1
