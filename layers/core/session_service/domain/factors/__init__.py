"""Factors, how a user proves who they are beyond the password: TOTP and recovery codes,
passkeys (WebAuthn). Enrolling, removing and checking a proof; what a proof buys is a
flow's. Uses the kernel, accounts and throttling."""
