"""The IBDC Airflow plugin: the latest dbt docs, published by the transform DAG, in the UI's navigation."""

from airflow.plugins_manager import AirflowPlugin

from ibdc.transform.docs import docs_app

DOCS_PREFIX = "/ibdc/dbt-docs"


class IbdcPlugin(AirflowPlugin):
    name = "ibdc"
    fastapi_apps = [{"app": docs_app, "url_prefix": DOCS_PREFIX, "name": "IBDC dbt docs"}]
    external_views = [
        {
            "name": "dbt docs",
            "href": f"{DOCS_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "dbt-docs",
        }
    ]
