"""Session service core: tokens, sessions, passwords, store, events and HTTP edges."""
