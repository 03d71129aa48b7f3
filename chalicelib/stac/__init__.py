"""STAC API documents and parameters (pure: the routes are chalicelib/api/stac.py)."""
