"""The local provincial source simulator: deterministic truth served over HTTP in provincial API styles."""
