"""Sessions: the lifecycle (start, refresh, authorize, list, limit, expire), access and
refresh tokens, device tokens, and ending sessions. Uses the kernel and keys."""
