"""HEAD wherever GET is (RFC 9110 section 9.3.2): `curl -I` on a map, a download link, a STAC
item. One HEAD route per GET route, added here rather than in each route's declaration, so a
new GET route cannot forget it. The view runs as for GET (a view whose GET writes something
checks `request.method`: GET /v1/maps/{id}/download counts a download, HEAD does not); the
envelope then drops the body and keeps its length (chalicelib/web/envelope.py).

Chalice puts each (path, method) of app.routes into API Gateway's swagger document and into
`chalice local`'s router, so the deployed API and `make run` both answer HEAD the same way.
"""

from __future__ import annotations

import copy

from chalice import Chalice


def install(app: Chalice) -> None:
    """Add HEAD to every path that has GET and no HEAD yet; call after every blueprint is
    registered and before cors.install (its Allow lists each path's methods). Raises nothing."""
    for methods in app.routes.values():
        get = methods.get("GET")
        if get is not None and "HEAD" not in methods:
            head = copy.copy(get)  # same view, path, content types, authorizer
            head.method = "HEAD"
            methods["HEAD"] = head
