"""E-mail: verified addresses, the messages the service sends (what is to be sent is
recorded with the change; the mailer sends it) and the notices of security changes
(accounts, throttling)."""
