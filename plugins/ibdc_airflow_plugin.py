"""The IBDC Airflow plugin: the latest dbt docs, published by the transform DAG, in the UI's navigation.

Airflow mounts a plugin's FastAPI app without authenticating its routes, so the docs app checks the
caller itself, with Airflow's own means: the user from the request's bearer token or the UI's
``_token`` cookie (``airflow.api_fastapi.core_api.security.get_user``: 401 without one, 403 for an
invalid one), then the auth manager's permission on the plugin's view
(``is_authorized_custom_view``; with the FAB auth manager: ``can_read`` on ``IBDC dbt docs``, which
``ibdc.transform.docs.grant_docs_view`` gives the Admin, Op, User and Viewer roles): 403 without it.
"""

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, HTTPException, status

from ibdc.transform.docs import DOCS_VIEW, docs_app

DOCS_PREFIX = "/ibdc/dbt-docs"


def requires_docs_view(user: Annotated[BaseUser, Depends(get_user)]) -> None:
    """A logged-in Airflow user allowed to read the docs view, else HTTPException 401 (no session or
    token) or 403 (no permission)."""
    if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=DOCS_VIEW, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"reading the dbt docs needs the {DOCS_VIEW!r} permission")


class IbdcPlugin(AirflowPlugin):
    name = "ibdc"
    fastapi_apps = [
        {"app": docs_app([Depends(requires_docs_view)]), "url_prefix": DOCS_PREFIX, "name": "IBDC dbt docs"}
    ]
    external_views = [
        {
            "name": "dbt docs",
            "href": f"{DOCS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "dbt-docs",
        }
    ]
