"""Airflow Assets the platform's DAGs produce and consume."""

from airflow.sdk import Asset

RAW_INDUSTRIAL_OUTPUT = Asset(name="raw.industrial_output", uri="ibdc://warehouse/raw/industrial_output")
