"""Single sign-on: the service as an OpenID Connect provider for the team's own apps."""
