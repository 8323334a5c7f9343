"""The domain, by capability. What the user is doing (flows) is kept apart from how they
prove it (factors), as Ory Kratos keeps its flows and strategies; a new way to sign in or
recover is one more factor or flow, not one more module beside twenty-five.

Every capability sees the shared kernel: `models` (the records), `errors` (the one error
family), `ports` (the interfaces the domain needs from storage) and `concurrency` (calls
that do not wait on each other, sent at once). Beyond it, each may use
only the capabilities below it (tests/unit/test_architecture.py holds the map):

- keys: the key ring, its rotation and the published verification keys.
- accounts: usernames, passwords (argon2id), changes of an account's factors.
- throttling: the login throttle's scopes and the limits of second-factor proofs (accounts).
- sessions: the session lifecycle, its tokens, device tokens, ending sessions (keys).
- factors: TOTP and recovery codes, passkeys (accounts, throttling).
- email: verified addresses, what the service mails and its mailing limits, the
  mailer's dispatch of requests and notices (accounts, throttling, activity).
- flows: registration, login and password change; the second step; step-up; passkey
  sign-in; account recovery and sign-in by e-mailed code (accounts, throttling,
  sessions, factors, keys, email).
- activity: what changes mean on the bus, the user's activity log, the operators' signals.
- administration: what support staff may do for a user (accounts, sessions, email).
- sso: single sign-on: the OAuth clients the team's apps are registered as, and the
  provider's codes and grants (sessions, keys).

It imports no AWS SDK and no adapter."""
