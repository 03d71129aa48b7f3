"""Preview renderers: from a file and its inspection to a small image (no I/O beyond the file)."""
