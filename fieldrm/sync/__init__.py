"""Sync (SPEC §5, §6): the merge rules (`merge`), the wire protocol (`protocol`), the
device's client (`client`, httpx) and its apply of server changes (`replica`), conflicts on
the device (`conflicts`), and the server (`server/`).  Imports the store and the ground
floor (models, clock, jsonio), never the CLI or the terminal app."""
