"""The HTTP edge: the API's resolver, request facts, token transport (cookies, CSRF) and
the authorizer's answer."""
