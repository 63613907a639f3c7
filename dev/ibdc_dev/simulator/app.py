"""The simulator's HTTP service (FastAPI): each province under ``/p/<adcode>`` in its portal's API
style (``portals.yaml``; one router per style in ``styles/``).

Beside the provincial APIs: ``/truth/<dataset>`` gives tests the ground truth of a partition, and
``/admin/faults`` switches faults on and off at run time (client secret in ``X-Admin-Secret``).
"""

from __future__ import annotations

import importlib
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException

from ibdc.reference import provinces
from ibdc.sources.registry import ApiStyle
from ibdc_dev.simulator import service
from ibdc_dev.simulator.faults import Fault

app = FastAPI(title="IBDC provincial source simulator")
for _style in ApiStyle:
    app.include_router(importlib.import_module(f"ibdc_dev.simulator.styles.{_style}").router)


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "provinces": len(provinces())}


@app.get("/portals")
def portals() -> dict:
    """Which style each province publishes in (what a registry maintainer would look up)."""
    return service.portals()


@app.get("/truth/{dataset}")
def truth(dataset: str, province: str, period: str) -> dict:
    """What a correct pipeline holds for the partition: the valid records and the malformed ones."""
    service.portal(province, service.portals().get(province, {}).get("style", ""))
    return service.truth(dataset, province, period)


def _admin(secret: str | None) -> None:
    if not service.secret_matches(secret):
        raise HTTPException(401, "admin secret required")


@app.get("/admin/faults")
def list_faults(x_admin_secret: Annotated[str | None, Header()] = None) -> list[Fault]:
    _admin(x_admin_secret)
    return service.board().all()


@app.post("/admin/faults")
def add_faults(faults: list[Fault], x_admin_secret: Annotated[str | None, Header()] = None) -> dict:
    _admin(x_admin_secret)
    for fault in faults:
        service.check_fault(fault)
    service.board().add(faults)
    return {"added": len(faults)}


@app.delete("/admin/faults")
def clear_faults(x_admin_secret: Annotated[str | None, Header()] = None) -> dict:
    """Back to the profile's faults; HTTP fault counters reset."""
    _admin(x_admin_secret)
    service.board().clear()
    return {"profile": service.board().profile}
