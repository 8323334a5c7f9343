"""Administration: what support staff may do for a user through the admin API (look up,
end sessions, disable or enable, lift a login lock). Uses the kernel, accounts and
sessions."""
