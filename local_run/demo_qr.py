"""The demo page's QR codes: an otpauth URI posted by the page, drawn as SVG (segno), so
that an authenticator app can scan it. Local run only: nothing of it is deployed, and the
page never sends the URI anywhere else."""

from __future__ import annotations

import io

from local_run.responses import GatewayResponse

MAX_URI_BYTES = 1024


def qr_svg(body: bytes) -> GatewayResponse:
    import segno  # noqa: PLC0415 - the demo's dependency, loaded when a page asks

    text = body.decode(errors="replace")
    if not text.startswith("otpauth://") or len(body) > MAX_URI_BYTES:
        message = b'{"message": "post an otpauth:// URI"}'
        return GatewayResponse(400, [("Content-Type", "application/json")], message)
    drawn = io.BytesIO()
    segno.make(text, error="m").save(drawn, kind="svg", xmldecl=False, scale=4, border=2)
    headers = [("Content-Type", "image/svg+xml"), ("Cache-Control", "no-store")]
    return GatewayResponse(200, headers, drawn.getvalue())
