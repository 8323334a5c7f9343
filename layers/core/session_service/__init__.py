"""Session service core: tokens, sessions, passwords, store, events and HTTP edges."""

import sys

# botocore imports urllib3's pyOpenSSL shim whenever pyOpenSSL is installed, and py_webauthn
# (passkeys) brings it into the layer: some 25 ms of every function's cold start, the
# authorizer's included, for an SSL context the standard library already gives. Marked
# unimportable before anything imports botocore, it falls back to the standard one, as it
# did before passkeys; py_webauthn imports pyOpenSSL itself, not through this shim.
sys.modules.setdefault("urllib3.contrib.pyopenssl", None)  # type: ignore[arg-type]
