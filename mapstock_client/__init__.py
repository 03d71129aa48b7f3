"""mapstock: the command-line client of a Map Stock API (login, upload, browse, download)."""

__version__ = "0.1.0"
