"""Airflow Assets the platform's DAGs produce and consume: one per raw table."""

from airflow.sdk import Asset

from ibdc.schemas import SCHEMAS


def raw_asset(dataset: str) -> Asset:
    return Asset(name=f"raw.{dataset}", uri=f"ibdc://warehouse/raw/{dataset}")


RAW_ASSETS = {name: raw_asset(name) for name in SCHEMAS}
