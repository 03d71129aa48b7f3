"""mapstock: the command-line client of a Map Stock API (login, upload, browse, download)."""

import sys

# `import httpx` also imports httpx's own command-line tool (click, rich, pygments) whenever
# click is installed: 0.3-1 s of every start of this client, which never uses it. httpx falls
# back to a stub when that import fails, which this makes it do.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
