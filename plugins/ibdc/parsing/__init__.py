"""Parsing raw pages into canonical records; invalid records become rejects with their reason."""
