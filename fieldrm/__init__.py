"""fieldrm: an offline-first field notebook for relationship managers, with a sync server."""

__version__ = "0.1.0"
