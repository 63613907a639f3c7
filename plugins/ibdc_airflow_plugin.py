"""The IBDC Airflow plugin: the latest dbt docs, published by the transform DAG, and the data exchange
market's page (the operator's view, ``ibdc.exchange.page``) in the UI's navigation.

Airflow mounts a plugin's FastAPI app without authenticating its routes, so each app checks the caller
itself, with Airflow's own means: the user from the request's bearer token or the UI's ``_token``
cookie (``airflow.api_fastapi.core_api.security.get_user``: 401 without one, 403 for an invalid one),
then the auth manager's permissions: 403 without them.

- dbt docs: ``is_authorized_custom_view`` on the docs view (with the FAB auth manager: ``can_read`` on
  ``IBDC dbt docs``, which ``ibdc.transform.docs.grant_docs_view`` gives the Admin, Op, User and Viewer
  roles).
- Data exchange: the docs view too, and reading Airflow's configuration (``is_authorized_configuration``;
  FAB: ``can_read`` on ``Configurations``, which Airflow gives its Op and Admin roles only): the page
  shows every participant's agreements and the market's ledger, which no platform role but the market's
  own may read in the warehouse, so it is an operator's, not every viewer's. A visitor without a
  session (or whose session expired) is sent to the login page, and back after it.
"""

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, HTTPException, status

from ibdc.exchange.page import exchange_app
from ibdc.transform.docs import DOCS_VIEW, docs_app

DOCS_PREFIX = "/ibdc/dbt-docs"
EXCHANGE_PREFIX = "/ibdc/exchange"


def requires_docs_view(user: Annotated[BaseUser, Depends(get_user)]) -> None:
    """A logged-in Airflow user allowed to read the docs view, else HTTPException 401 (no session or
    token) or 403 (no permission)."""
    if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=DOCS_VIEW, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"reading the dbt docs needs the {DOCS_VIEW!r} permission")


def requires_exchange_view(user: Annotated[BaseUser, Depends(get_user)]) -> None:
    """A logged-in Airflow operator: the docs view's permission and reading Airflow's configuration (FAB
    roles Op and Admin), else HTTPException 401 (no session or token) or 403."""
    manager = get_auth_manager()
    docs = manager.is_authorized_custom_view(method="GET", resource_name=DOCS_VIEW, user=user)
    if not (docs and manager.is_authorized_configuration(method="GET", user=user)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the data exchange page is an operator's: it needs the {DOCS_VIEW!r} permission and reading"
            " Airflow's configuration (roles Op, Admin)",
        )


def _login_url(next_path: str) -> str:
    return get_auth_manager().get_url_login(next_url=next_path)


class IbdcPlugin(AirflowPlugin):
    name = "ibdc"
    fastapi_apps = [
        {"app": docs_app([Depends(requires_docs_view)]), "url_prefix": DOCS_PREFIX, "name": "IBDC dbt docs"},
        {
            "app": exchange_app([Depends(requires_exchange_view)], login_url=_login_url),
            "url_prefix": EXCHANGE_PREFIX,
            "name": "IBDC data exchange",
        },
    ]
    external_views = [
        {
            "name": "dbt docs",
            "href": f"{DOCS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "dbt-docs",
        },
        {
            "name": "Data exchange",
            "href": f"{EXCHANGE_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "data-exchange",
        },
    ]
