import json
import os

from psycopg.conninfo import conninfo_to_dict

from ibdc.settings import Settings
from ibdc.sources.credentials import get_credentials


def test_local_defaults_and_external_services(monkeypatch):
    for var in [v for v in os.environ if v.startswith("IBDC_")]:
        monkeypatch.delenv(var)
    local = Settings(pg_password="pw")
    assert local.manages_postgres and local.manages_s3 and local.manages_simulator
    assert local.warehouse == "postgresql://ibdc:pw@127.0.0.1:55432/ibdc"
    assert local.airflow_metadata.endswith(":55432/airflow")

    monkeypatch.setenv("IBDC_WAREHOUSE_DSN", "postgresql://u:p@db.example:6543/wh")
    monkeypatch.setenv("IBDC_S3_ENDPOINT", "https://s3.example")
    monkeypatch.setenv("IBDC_LOADER_PASSWORD", "l/p")
    monkeypatch.setenv("IBDC_TRANSFORMER_PASSWORD", "t@p")
    external = Settings()
    assert not external.manages_postgres and not external.manages_s3
    assert external.airflow_metadata == "postgresql://u:p@db.example:6543/airflow"
    # The pipeline's roles on the administrator's host and database; dbt as the transformer.
    assert conninfo_to_dict(external.loader) == {
        "user": "ibdc_loader",
        "password": "l/p",
        "host": "db.example",
        "port": "6543",
        "dbname": "wh",
    }
    # A socket directory or IPv6 host, given as a conninfo, stays as it is.
    monkeypatch.setenv("IBDC_WAREHOUSE_DSN", "host=/var/run/postgresql dbname=wh user=admin")
    assert conninfo_to_dict(Settings().transformer)["host"] == "/var/run/postgresql"
    monkeypatch.setenv("IBDC_WAREHOUSE_DSN", "postgresql://admin:x@db.example:6543/wh")
    assert external.dbt_env() == {
        "IBDC_DBT_HOST": "db.example",
        "IBDC_DBT_PORT": "6543",
        "IBDC_DBT_USER": "ibdc_transformer",
        "IBDC_DBT_PASSWORD": "t@p",
        "IBDC_DBT_DBNAME": "wh",
    }
    monkeypatch.setenv("IBDC_TRANSFORMER_DSN", "postgresql://dbt:x@other.example/wh")
    assert Settings().dbt_env()["IBDC_DBT_USER"] == "dbt"


def test_credentials_from_connection_uri_or_json(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SRC_A", "http://app%40gd:s%2Fecret@portal.example")
    assert (get_credentials("src_a").login, get_credentials("src_a").password) == ("app@gd", "s/ecret")
    monkeypatch.setenv("AIRFLOW_CONN_SRC_B", json.dumps({"conn_type": "http", "password": "x"}))
    assert get_credentials("src_b").password == "x"
