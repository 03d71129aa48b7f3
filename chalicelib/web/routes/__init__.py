"""The API's routes, one Blueprint per resource (app.py registers them)."""
