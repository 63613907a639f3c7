"""Local environment files under ``.local/``.

``secrets.env`` holds the generated local secrets (created on first run, never committed) and is
loaded into the environment of every command the CLI and the tests run; variables already set win.
``ibdc.env`` is written for the user's shell: where the warehouse, the S3 endpoint and Airflow are.
"""

from __future__ import annotations

import os
import secrets
import shlex
from base64 import urlsafe_b64encode
from pathlib import Path

from ibdc.settings import LOCAL_DIR

SECRETS_FILE = LOCAL_DIR / "secrets.env"
USER_ENV_FILE = LOCAL_DIR / "ibdc.env"

GENERATED = {
    "IBDC_PG_PASSWORD": lambda: secrets.token_urlsafe(18),
    "IBDC_LOADER_PASSWORD": lambda: secrets.token_urlsafe(18),
    "IBDC_TRANSFORMER_PASSWORD": lambda: secrets.token_urlsafe(18),
    "IBDC_EXCHANGE_PASSWORD": lambda: secrets.token_urlsafe(18),
    "IBDC_EXCHANGE_READER_PASSWORD": lambda: secrets.token_urlsafe(18),
    # The exchange service's S3 identity: reads the published products' bucket (presigned URLs), nothing else.
    "IBDC_EXCHANGE_S3_ACCESS_KEY": lambda: "exchange" + secrets.token_hex(6),
    "IBDC_EXCHANGE_S3_SECRET_KEY": lambda: secrets.token_urlsafe(24),
    "IBDC_S3_ACCESS_KEY": lambda: "ibdc" + secrets.token_hex(6),
    "IBDC_S3_SECRET_KEY": lambda: secrets.token_urlsafe(24),
    # The local S3 endpoint's administrator (buckets, versioning, policies): never given to the pipeline.
    "IBDC_S3_ADMIN_ACCESS_KEY": lambda: "admin" + secrets.token_hex(6),
    "IBDC_S3_ADMIN_SECRET_KEY": lambda: secrets.token_urlsafe(24),
    # The Airflow api-server's (the plugin's dbt docs routes): it reads the published docs, nothing else.
    "IBDC_S3_DOCS_READER_ACCESS_KEY": lambda: "reader" + secrets.token_hex(6),
    "IBDC_S3_DOCS_READER_SECRET_KEY": lambda: secrets.token_urlsafe(24),
    "IBDC_SIMULATOR_CLIENT_SECRET": lambda: secrets.token_urlsafe(18),
    "IBDC_AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
    "AIRFLOW__CORE__FERNET_KEY": lambda: urlsafe_b64encode(os.urandom(32)).decode(),
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: secrets.token_urlsafe(32),
    # The Celery broker's (ibdc_dev.localstack.redis): make airflow-celery and its tests.
    "IBDC_REDIS_PASSWORD": lambda: secrets.token_urlsafe(18),
}


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return values


def write_env_file(path: Path, values: dict[str, str], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"# {header}\n{body}", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def ensure_secrets() -> dict[str, str]:
    """Generate the local secrets that are missing; returns the file's content."""
    values = read_env_file(SECRETS_FILE)
    missing = {k: make() for k, make in GENERATED.items() if k not in values}
    if missing:
        values.update(missing)
        write_env_file(SECRETS_FILE, values, "generated local secrets: keep out of version control")
    return values


def load_local_env() -> None:
    """Put the local secrets into os.environ (without overriding), and reload settings."""
    from ibdc.settings import reload_settings

    for key, value in ensure_secrets().items():
        os.environ.setdefault(key, value)
    settings = reload_settings()
    # The simulator's client credentials, as an Airflow connection (environment-only).
    os.environ.setdefault(
        "AIRFLOW_CONN_IBDC_SIMULATOR",
        f'{{"conn_type": "http", "password": "{settings.simulator_client_secret}"}}',
    )
