import json
import os

from psycopg.conninfo import conninfo_to_dict

from ibdc.settings import Settings
from ibdc.sources.credentials import get_credentials
from ibdc_dev import cli
from ibdc_dev.localstack import redis, seaweedfs
from tests.conftest import TEST_ENV


def test_local_defaults_and_external_services(monkeypatch):
    for var in [v for v in os.environ if v.startswith("IBDC_")]:
        monkeypatch.delenv(var)
    local = Settings(pg_password="pw")
    assert local.manages_postgres and local.manages_s3 and local.manages_simulator
    assert local.warehouse == "postgresql://ibdc:pw@127.0.0.1:25432/ibdc"
    assert local.airflow_metadata.endswith(":25432/airflow")

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


def test_every_fixed_port_lies_below_the_ephemeral_range(monkeypatch):
    """The local stack's fixed ports (SeaweedFS's servers and their gRPC ports included, in both
    layouts) and the tests' own in ``tests/conftest.py`` lie below 32768, where Linux's default
    ephemeral range (32768-60999) starts (macOS's at 49152):
    an outgoing connection may take a port of that range as its source port, and a service started
    then cannot bind it (CI once lost the exchange API so, on 58300)."""
    for var in [v for v in os.environ if v.startswith("IBDC_")]:
        monkeypatch.delenv(var)
    defaults = Settings()
    ports = {name: getattr(defaults, name) for name in Settings.model_fields if name.endswith("_port")}
    assert {"pg_port", "s3_port", "simulator_port", "exchange_port", "airflow_port"} <= ports.keys()
    ports |= {"celery airflow": cli.CELERY_AIRFLOW_PORT, "docs": cli.DOCS_PORT, "redis": redis.PORT}
    ports |= {var: int(value) for var, value in TEST_ENV.items() if var.endswith("_PORT")}
    for topology in seaweedfs.Topology:
        for server in seaweedfs.Layout.of(topology).servers:
            ports[f"{topology} {server.name}"] = server.port(defaults)
            ports[f"{topology} {server.name} gRPC"] = server.grpc_port(defaults)
    inside = {name: port for name, port in ports.items() if not 1024 <= port < 32768}
    assert not inside, f"fixed ports inside the ephemeral range (or privileged): {inside}"
