"""What the service's HTML pages are served with: a strict Content-Security-Policy (no
inline script or style, no framing, requests and forms to this origin only), never
cached, sending no Referer."""

# connect-src: the page's fetch of the reset route (default-src 'none' would refuse it).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HOSTED_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
