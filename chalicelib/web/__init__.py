"""The HTTP side: envelope, request parsing, callers, field rules, forms, OpenAPI, routes."""
