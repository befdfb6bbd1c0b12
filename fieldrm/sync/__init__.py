"""Sync: the hybrid logical clock, the merge rules, the protocol, the client and the server."""
