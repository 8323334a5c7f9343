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
# The sign-in and sign-out forms of single sign-on: their POST answers with a redirect to
# an app (another origin), which form-action 'self' would block in Chrome and Safari (they
# apply it to the redirects after a submission); and a same-origin Referrer-Policy, under
# which the browser names this origin in the POST's Origin (no-referrer makes it "null"),
# the check that only these pages sign a browser in or out.
SSO_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}
# The sign-in form also runs its passkey button's script (this origin's file, no inline
# script), which asks this origin for a ceremony (connect-src).
SSO_SIGN_IN_HEADERS = {
    **SSO_PAGE_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
