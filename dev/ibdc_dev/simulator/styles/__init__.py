"""One module per API style: a FastAPI router serving the provinces whose portal uses that style."""
