"""Activity: what a change of state means off the request path: the events on the bus, the
user's activity log and the signals operators watch, all from the table's stream. Uses only
the kernel."""
