"""Flows, what the user is doing: registering, logging in and changing the password
(password_flows), the second step of a login, step-up (RFC 9470), signing in with a
passkey. Each holds its throttle places, proves its factors and starts or updates a
session. Uses the kernel, accounts, throttling, sessions, factors and keys."""
