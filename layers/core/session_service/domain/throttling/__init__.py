"""Throttling: a place in every scope an attempt counts toward before it is judged (the
login throttle), and the limits of second-factor proofs per account. Uses the kernel and
accounts (a lock is an account event)."""
