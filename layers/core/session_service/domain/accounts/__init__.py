"""Accounts: the username and password rules, argon2id hashing, and the record and guard of
a change to an account's factors (only a session that proved a second factor may change
the second factors). Uses only the kernel."""
