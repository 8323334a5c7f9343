"""The domain: sessions, accounts, the throttle, tokens and keys, and what events mean; the
interfaces it needs from storage (ports). It imports no AWS SDK and no adapter."""
