"""Sign-in with other identity providers (contract v3, federation): upstream OpenID
Connect providers, the flow through them, and the identities linked to accounts."""
