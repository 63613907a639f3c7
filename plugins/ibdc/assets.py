"""Airflow Assets the platform's DAGs produce and consume: one per raw table, one per mart.

A mart's asset is updated each time the transform DAG (``ibdc_transform_dbt``) has built the mart and
its dbt tests passed: the outlet of the mart's last task (``ibdc.transform.dbt.emit_mart_assets``).
The exchange market stores it beside a product built from the mart (a new version to publish).
Its URI names the table, not where the warehouse runs: the same in every deployment, computed
without a connection (cosmos' own assets, ``postgres://host:port/database/schema/table`` from the
dbt profile at run time, are switched off: ``ibdc.transform.dbt.cosmos_configs``); the URIs are
:mod:`ibdc.asset_uris`' (no Airflow import).
"""

from airflow.sdk import Asset

from ibdc.asset_uris import mart_asset_uri, raw_asset_uri
from ibdc.schemas import SCHEMAS


def raw_asset(dataset: str) -> Asset:
    return Asset(name=f"raw.{dataset}", uri=raw_asset_uri(dataset))


def mart_asset(model: str) -> Asset:
    """The asset of the mart ``model``: what the transform DAG emits when it has built and tested it."""
    return Asset(name=f"mart.{model}", uri=mart_asset_uri(model))


RAW_ASSETS = {name: raw_asset(name) for name in SCHEMAS}
