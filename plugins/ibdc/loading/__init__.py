"""Loading canonical records into PostgreSQL schema ``raw``: COPY, one partition per transaction."""
