"""Keys: the key ring kept in Secrets Manager (JWT signing keys, refresh-token MAC keys),
its rotation with pre-publication, the signed document of verification keys and the keys
the authorizer reads. Uses only the kernel."""
