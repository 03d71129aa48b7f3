"""STAC API documents and parameters (pure: the routes are chalicelib/web/routes/stac.py)."""
