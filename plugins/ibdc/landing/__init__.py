"""The raw zone: bytes exactly as served, partitioned, with a manifest per partition."""
