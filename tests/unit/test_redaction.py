"""The log formatter's redaction: every kind of secret, in every place it can hide."""

from __future__ import annotations

import json

import pytest

from session_service.observability import REDACTED, redact

ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
REFRESH = (
    "rt1.00000000-0000-4000-8000-000000000000.00000000-0000-4000-8000-000000000001.3."
    "1798500000000.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde.AbCdEfGhIjKlMnOpQrStUv"
)
DEVICE = (
    "dt1.00000000-0000-4000-8000-000000000002.00000000-0000-4000-8000-000000000000."
    "1798500000.AbCdEfGhIjKlMnOpQrStUv"
)
REFRESH_V2 = REFRESH.replace("rt1.", "rt2.Ab9_-xYz.", 1)
DEVICE_V2 = DEVICE.replace("dt1.", "dt2.Ab9_-xYz.", 1)
HASH = "$argon2id$v=19$m=19456,t=3,p=1$U2HbkUSEMFWbpSSChjaqTA$JomIWpJUIgW6i7CDIzsW/orl/kk6R8y5J"


@pytest.mark.parametrize(
    ("secret", "line"),
    [
        (ACCESS, json.dumps({"message": f"token {ACCESS}"})),
        (ACCESS, json.dumps({"headers": {"Authorization": f"Bearer {ACCESS}"}})),
        ("dXNlcjpwYXNz", json.dumps({"headers": {"authorization": "Basic dXNlcjpwYXNz"}})),
        ("opaque-token-value", json.dumps({"authorization": "bearer opaque-token-value"})),
        (REFRESH, json.dumps({"body": json.dumps({"refresh_token": REFRESH})})),
        (DEVICE, json.dumps({"body": json.dumps({"device_token": DEVICE})})),
        (DEVICE, json.dumps({"cookies": [f"__Host-device_token={DEVICE}"]})),
        (REFRESH_V2, json.dumps({"body": json.dumps({"refresh_token": REFRESH_V2})})),
        (DEVICE_V2, json.dumps({"cookies": [f"__Host-device_token={DEVICE_V2}"]})),
        ("mac-key-1", json.dumps({"refresh_token_keys": [{"kid": "a", "key": "mac-key-1"}]})),
        (HASH, json.dumps({"item": {"password_hash": {"S": HASH}}})),
        ("digest-one", json.dumps({"NewImage": {"refresh_digests": {"SS": ["digest-one", "x"]}}})),
        ("digest-two", json.dumps({"OldImage": {"previous_digest": {"S": "digest-two"}}})),
        ("-----BEGIN", json.dumps({"signing_keys": [{"private_key": "-----BEGIN PRIVATE KEY"}]})),
        ("correct horse", json.dumps({"password": "correct horse"})),
        ("492039", json.dumps({"body": json.dumps({"mfa_token": "t", "code": "492039"})})),
        ("abcde-fghij", json.dumps({"body": json.dumps({"code": "abcde-fghij"})})),
        ("tok-9Xy", json.dumps({"body": json.dumps({"mfa_token": "tok-9Xy", "code": "1"})})),
        ("JBSWY3DPEHPK3PXP", json.dumps({"secret": "JBSWY3DPEHPK3PXP"})),
        ("cer-5kQ", json.dumps({"body": json.dumps({"ceremony_id": "cer-5kQ", "credential": {}})})),
        ("otpauth://totp/x", json.dumps({"otpauth_uri": "otpauth://totp/x?secret=J"})),
        ("v1.sealed", json.dumps({"NewImage": {"totp_secret": {"S": "v1.sealed"}}})),
        ("v1.pending", json.dumps({"Item": {"pending_totp": {"S": "v1.pending"}}})),
        ("code-digest", json.dumps({"Item": {"recovery_codes": {"SS": ["code-digest"]}}})),
        (
            "correct horse",
            json.dumps({"body": json.dumps({"username": "ada", "password": "correct horse"})}),
        ),
        (
            's3cr"et pass',
            json.dumps({"body": json.dumps({"new_password": 's3cr"et pass', "x": 1})}),
        ),
        ("old one here", json.dumps({"current_password": "old one here", "next": "kept"})),
    ],
)
def test_secrets_are_redacted(secret: str, line: str) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert secret not in json.loads(redacted).__repr__()
    assert REDACTED in redacted


def test_ordinary_fields_are_left_alone() -> None:
    line = json.dumps(
        {
            "user_id": "u-1",
            "session_id": "s-2",
            "message": "session evicted",
            "username": "ada",
            "next": "kept",
        }
    )
    assert redact(line) == line
