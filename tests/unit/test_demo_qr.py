"""The local run's QR codes for the demo page: an otpauth URI in, an SVG out, and nothing
else drawn."""

from __future__ import annotations

from local_run.demo_qr import qr_svg


def test_an_otpauth_uri_is_drawn_as_an_svg() -> None:
    answer = qr_svg(b"otpauth://totp/session-service:ada?secret=JBSWY3DPEHPK3PXP")
    assert answer.status == 200
    assert ("Content-Type", "image/svg+xml") in answer.headers
    assert answer.body.startswith(b"<svg ")
    assert b"<script" not in answer.body


def test_anything_else_is_refused() -> None:
    for body in (b"https://example.com", b"otpauth://" + b"x" * 2000, b"\xff\xfe"):
        assert qr_svg(body).status == 400
