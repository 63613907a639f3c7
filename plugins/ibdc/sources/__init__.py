"""Provincial sources: the registry (``registry.yaml``) and one adapter per API style."""
