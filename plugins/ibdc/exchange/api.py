"""The exchange market's REST API for participants (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Served by ``uvicorn ibdc.exchange.api:app``: the local stack runs it on ``IBDC_EXCHANGE_PORT``
(``ibdc-dev up``), docker-compose as service ``exchange-api``.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="IBDC industrial data exchange", version="1.0.0")


@app.get("/health", include_in_schema=False)
def health() -> dict[str, str]:
    return {"status": "ok"}
