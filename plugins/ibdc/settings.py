"""The one place that reads configuration: environment variables prefixed ``IBDC_``.

An unset service variable (DSN, S3 endpoint, simulator URL) means: the local service that ``make up`` (``ibdc-dev up``)
runs. Generated local secrets come from ``.local/secrets.env``, which the CLI and the tests load into
the environment (``ibdc_dev.localstack.env``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The pipeline's two database roles (provisioned by ibdc.governance).
LOADER = "ibdc_loader"
TRANSFORMER = "ibdc_transformer"
# The exchange market's service role (ibdc.exchange): its tables, and the ledger only through its append function.
EXCHANGE = "ibdc_exchange"
# What reads the market for the operator's page (ibdc.exchange.page): SELECT on its tables, nothing else.
EXCHANGE_READER = "ibdc_exchange_reader"
LOCAL_DIR = PROJECT_DIR / ".local"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IBDC_", extra="ignore")

    local_dir: Path = LOCAL_DIR

    # Warehouse (PostgreSQL). Unset DSN means: the project-owned local cluster. The warehouse DSN is
    # the administrator's (provisioning, tests' set-up); the pipeline connects as its two
    # least-privilege roles (``ibdc.governance``): loads as ``ibdc_loader``, dbt as ``ibdc_transformer``,
    # with these passwords (or whole DSNs) on the warehouse's host and database.
    warehouse_dsn: str | None = None
    loader_password: str | None = None
    transformer_password: str | None = None
    loader_dsn: str | None = None
    transformer_dsn: str | None = None
    exchange_password: str | None = None
    exchange_dsn: str | None = None
    exchange_reader_password: str | None = None
    exchange_reader_dsn: str | None = None
    pg_port: int = 25432
    pg_superuser: str = "ibdc"
    pg_password: str | None = None
    warehouse_db: str = "ibdc"
    airflow_db: str = "airflow"
    airflow_db_dsn: str | None = None
    # The pipeline's warehouse sessions (loads, alerts: ibdc.loading.sessions), every wait bounded and a
    # dead peer noticed, in seconds: connecting; one statement (a partition's COPY of millions of rows);
    # waiting for a lock (another load of the same partition); a client silent inside a transaction
    # (its session ends, releasing the partition's lock); TCP keepalives (idle, interval, probes).
    pg_connect_timeout_s: int = 10
    pg_statement_timeout_s: float = 900.0
    pg_lock_timeout_s: float = 600.0
    pg_idle_in_transaction_timeout_s: float = 300.0
    pg_keepalives_idle_s: int = 60
    pg_keepalives_interval_s: int = 10
    pg_keepalives_count: int = 6

    # Raw telemetry kept, in days before today (UTC): older days are dropped whole by ``ibdc
    # expire-telemetry`` (ibdc.loading.retention), run as the warehouse's administrator. None: every day kept.
    telemetry_retention_days: int | None = Field(default=None, ge=0)

    # Object store (any S3 endpoint, spoken to through the minio SDK), with the pipeline's keys (never
    # the store's administrator's). Unset endpoint means: the local SeaweedFS that `make up` runs.
    s3_endpoint: str | None = None
    s3_port: int = 29000
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    raw_bucket: str = "ibdc-raw"
    docs_bucket: str = "ibdc-docs"

    # Provincial sources: unset URL means the local simulator.
    simulator_url: str | None = None
    simulator_port: int = 28090
    simulator_seed: int = 20260101
    simulator_client_secret: str | None = None
    simulator_faults: str = "default"
    # Devices reporting telemetry per province: 24 rows a device a day. 200 gives 4,800 rows a
    # province-day; 50,000 gives 1.2 million.
    simulator_telemetry_devices: int = 200

    # Extraction behaviour.
    http_timeout_s: float = 10.0  # connecting, and each read
    http_retries: int = 5
    # An answer's body is cut off past this size (decoded bytes): well above the biggest legitimate
    # answer, a csv_download telemetry province-day (about 71 bytes a reading: 340 KB at 4,800
    # readings, 85 MB at 1.2 million).
    http_max_answer_bytes: int = 256 * 1024 * 1024
    # ... and past this time from its headers, however slowly its bytes keep coming.
    http_answer_deadline_s: float = 300.0
    # The longest Retry-After waited; a source asking longer is left to the task's retries.
    http_retry_after_max_s: int = 120
    page_size: int = 10
    # A partition's whole extraction, in seconds: past it, no further request is sent and the
    # extraction fails as transient (nothing committed; the task's next attempt starts again).
    partition_deadline_s: float = 1800.0

    # The exchange market's REST API (ibdc.exchange.api): where the local stack serves it, and the
    # address buyers reach it at (their Delta Sharing profiles' endpoint; default: the local one).
    exchange_port: int = 28300
    exchange_public_url: str | None = None
    # Published data products (Delta tables, ibdc.exchange.publish) and the exchange service's own S3
    # identity: it reads that bucket only, to presign the URLs a Delta Sharing query answers with, each
    # valid this many seconds.
    exchange_bucket: str = "ibdc-exchange"
    exchange_s3_access_key: str | None = None
    exchange_s3_secret_key: str | None = None
    exchange_url_ttl_s: int = Field(default=300, ge=10, le=3600)

    # Airflow (local).
    airflow_port: int = 28080
    airflow_admin_password: str | None = None

    @property
    def manages_postgres(self) -> bool:
        return self.warehouse_dsn is None

    @property
    def manages_s3(self) -> bool:
        return self.s3_endpoint is None

    @property
    def manages_simulator(self) -> bool:
        return self.simulator_url is None

    def _local_dsn(self, db: str) -> str:
        return f"postgresql://{self.pg_superuser}:{self.pg_password or ''}@127.0.0.1:{self.pg_port}/{db}"

    @property
    def warehouse(self) -> str:
        return self.warehouse_dsn or self._local_dsn(self.warehouse_db)

    def _as_role(self, role: str, password: str | None) -> str:
        """The warehouse's connection (host, port, database, options) as ``role``: a libpq conninfo."""
        return make_conninfo(self.warehouse, user=role, password=password or "")

    @property
    def loader(self) -> str:
        """The DSN partition loads and alerts connect with: role ``ibdc_loader``."""
        return self.loader_dsn or self._as_role(LOADER, self.loader_password)

    @property
    def transformer(self) -> str:
        """The DSN dbt connects with: role ``ibdc_transformer``."""
        return self.transformer_dsn or self._as_role(TRANSFORMER, self.transformer_password)

    @property
    def exchange(self) -> str:
        """The DSN the exchange market (its API and ``ibdc exchange``) connects with: role ``ibdc_exchange``."""
        return self.exchange_dsn or self._as_role(EXCHANGE, self.exchange_password)

    @property
    def exchange_reader(self) -> str:
        """The DSN the operator's page (Airflow UI) reads the market with: role ``ibdc_exchange_reader``."""
        return self.exchange_reader_dsn or self._as_role(EXCHANGE_READER, self.exchange_reader_password)

    @property
    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self.exchange_port}"

    @property
    def airflow_metadata(self) -> str:
        """Airflow's metadata DB: explicit DSN, else a database beside the warehouse."""
        if self.airflow_db_dsn:
            return self.airflow_db_dsn
        if self.warehouse_dsn:
            return urlsplit(self.warehouse_dsn)._replace(path=f"/{self.airflow_db}").geturl()
        return self._local_dsn(self.airflow_db)

    @property
    def s3(self) -> str:
        return self.s3_endpoint or f"http://127.0.0.1:{self.s3_port}"

    @property
    def sources_url(self) -> str:
        return (self.simulator_url or f"http://127.0.0.1:{self.simulator_port}").rstrip("/")

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    def dbt_env(self) -> dict[str, str]:
        """The transformer's DSN split into the variables ``dbt_project/profiles.yml`` reads."""
        parts = conninfo_to_dict(self.transformer)
        return {
            "IBDC_DBT_HOST": str(parts.get("host") or "127.0.0.1"),
            "IBDC_DBT_PORT": str(parts.get("port") or 5432),
            "IBDC_DBT_USER": str(parts.get("user") or ""),
            "IBDC_DBT_PASSWORD": str(parts.get("password") or ""),
            "IBDC_DBT_DBNAME": str(parts.get("dbname") or ""),
        }


@functools.cache
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
