"""``make bench``: ``load`` (the platform's loading against psql's COPY and dlt), ``incremental`` (the OEE
marts: a new day against history), ``scale`` (peak memory and rows/s per telemetry style at two sizes)."""
