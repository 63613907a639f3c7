"""docker-compose.yml cannot run here (no Docker engine); check everything that can be checked without one.

What each service's code reads is derived from the code itself (what the DAG files read when parsed,
what the docs routes of the Airflow plugin read when called, the settings the pipeline's and the
simulator's modules name), and each service must get those variables and no secret beyond them and
the Airflow settings its process needs. The init scripts of deploy/ are run: the secrets check with
placeholder and good values, minio-init against a recording stand-in for ``mc`` (no MinIO here)."""

import ast
import base64
import importlib.util
import json
import os
import re
import secrets
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import urllib3
import yaml

from ibdc import airflow_users
from ibdc.settings import EXCHANGE, EXCHANGE_READER, LOADER, PROJECT_DIR, TRANSFORMER, Settings
from ibdc.sources.registry import connections_needed
from ibdc.transform.docs import DOCS_PREFIX
from ibdc_dev.localstack import seaweedfs
from ibdc_dev.localstack.airflow import airflow_defaults

COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
DEPLOY = PROJECT_DIR / "deploy"
CHECK_SECRETS = DEPLOY / "check-secrets.sh"
MINIO_INIT = DEPLOY / "minio-init"
AIRFLOW_SERVICES = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Local-stack settings with no meaning in compose (ports, the local host, local paths chosen there).
LOCAL_ONLY = {
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL",
    "AIRFLOW_HOME",
}
# Settings without a default that a deployment may leave unset: the local cluster's password, Airflow's
# metadata DSN (compose sets Airflow's own), the local admin login, the telemetry retention (unset keeps
# every day; read by `ibdc expire-telemetry`, an administrator's verb no service runs).
OPTIONAL = {"pg_password", "airflow_db_dsn", "airflow_admin_password", "telemetry_retention_days"}
# The warehouse administrator's: the init job's alone. The pipeline's code names them only to build its
# roles' DSNs when whole DSNs are not given (compose gives whole DSNs).
ADMIN = {
    "IBDC_WAREHOUSE_DSN",
    "IBDC_LOADER_PASSWORD",
    "IBDC_TRANSFORMER_PASSWORD",
    "IBDC_EXCHANGE_PASSWORD",
    "IBDC_EXCHANGE_READER_PASSWORD",
}
# The exchange market's code (its REST API, service exchange-api, and ``ibdc exchange``); the market's
# DSN is its alone: the pipeline's code names it only to provision its role (``ibdc provision``).
EXCHANGE_CODE = PROJECT_DIR / "plugins" / "ibdc" / "exchange"
EXCHANGE_ONLY = {"exchange_dsn", "exchange_reader_dsn"}
# The exchange's publisher runs on the workers (dags/exchange_publish.py), not in the exchange API.
PUBLISHER_CODE = EXCHANGE_CODE / "publish.py"
# The operator's page runs in the Airflow api-server (the ibdc plugin), not in the exchange API.
PAGE_CODE = EXCHANGE_CODE / "page.py"
# The secrets each Airflow process needs for Airflow itself (not the platform's code): the metadata
# database (every one), the Celery broker (the scheduler queues, the workers take), the Fernet key
# (whoever reads connections and variables in the metadata database; a worker's tasks get them through
# the api-server), the JWT secret (the api-server signs API and task tokens, the scheduler's executor
# signs each task's token), the admin's password (airflow-init creates the login).
AIRFLOW_SECRETS = {
    "airflow-api-server": {"AIRFLOW_DB_PASSWORD", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"},
    "airflow-scheduler": {
        "AIRFLOW_DB_PASSWORD",
        "REDIS_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
    },
    "airflow-dag-processor": {"AIRFLOW_DB_PASSWORD", "AIRFLOW__CORE__FERNET_KEY"},
    "airflow-triggerer": {"AIRFLOW_DB_PASSWORD", "AIRFLOW__CORE__FERNET_KEY"},
    "airflow-worker": {"AIRFLOW_DB_PASSWORD", "REDIS_PASSWORD"},
    "airflow-init": {"AIRFLOW_DB_PASSWORD", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD"},
}
SECRET_REF = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+):\?[^}]*\}")  # ${X:?message}; $${X} is the container's own


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _env_var(field: str) -> str:
    return f"IBDC_{field.upper()}"


def _secrets_in(value) -> set[str]:
    return set(SECRET_REF.findall(str(value)))


def _secrets_held(service: dict) -> set[str]:
    """The secrets (``${X:?}`` variables) a service's environment and command carry."""
    held = set()
    for value in (service.get("environment") or {}).values():
        held |= _secrets_in(value)
    return held | _secrets_in(service.get("command", ""))


def _attributes_named(paths) -> set[str]:
    """Every attribute name (``x.name``) in the Python files ``paths``."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def _settings_fields_named(paths) -> set[str]:
    """The Settings fields the code of ``paths`` names, directly or through a Settings property or
    method (``settings.loader`` reads ``loader_dsn``, ...: followed through ``self.x`` in their bodies)."""
    fields = set(Settings.model_fields)
    bodies = {
        node.name: node
        for node in ast.walk(ast.parse((PROJECT_DIR / "plugins" / "ibdc" / "settings.py").read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    pending, seen = set(_attributes_named(paths)), set()
    while pending:
        name = pending.pop()
        seen.add(name)
        if name in bodies and name not in fields:
            for node in ast.walk(bodies[name]):
                on_self = isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "self"
                if on_self and node.attr not in seen:
                    pending.add(node.attr)
    return seen & fields


def _fields_read_by(call, monkeypatch) -> set[str]:
    """The Settings fields read (on any Settings instance) while ``call()`` runs."""
    fields, read = set(Settings.model_fields), set()
    original = Settings.__getattribute__

    def recording(self, name):
        if name in fields:
            read.add(name)
        return original(self, name)

    with monkeypatch.context() as patch:
        patch.setattr(Settings, "__getattribute__", recording)
        call()
    return read


def _parse_dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    assert bag.dags and not bag.import_errors, bag.import_errors
    return bag


def _failure_callbacks(bag) -> set:
    """The platform's failure callbacks (from plugins/ibdc) of the parsed DAGs and their tasks: the
    dag-processor runs them (Airflow 3: TaskCallbackRequest, DagCallbackRequest)."""
    found = set()
    for dag in bag.dags.values():
        for holder in (dag, *dag.tasks):
            callbacks = holder.on_failure_callback or []
            for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
                if getattr(callback, "__module__", "").startswith("ibdc."):
                    found.add(callback)
    return found


def _run_failure_callbacks(callbacks, monkeypatch) -> None:
    """Each callback called with a failed task's context, the warehouse refusing every connection (no
    network: a unit test reaches no service); each must have tried to connect (to record its alert)."""
    import psycopg

    dsns = []

    def refuse(dsn, *args, **kwargs):
        dsns.append(dsn)
        raise psycopg.OperationalError("no warehouse in a unit test")

    ti = SimpleNamespace(dag_id="a_dag", run_id="a_run", task_id="a_task", map_index=-1, try_number=1)
    with monkeypatch.context() as patch:
        patch.setattr(psycopg, "connect", refuse)
        for callback in callbacks:
            before = len(dsns)
            callback({"ti": ti, "task_instance": ti, "exception": RuntimeError("failed")})
            assert len(dsns) > before, (callback, "did not reach the warehouse")


def _call_the_plugin_routes(monkeypatch) -> None:
    """Every GET route of the ibdc Airflow plugin's FastAPI apps, called as a logged-in user would
    (their dependencies, the login's check among them, answered with None), the object store answering
    every request with an error and the warehouse refusing every connection (no network: a unit test
    reaches no service); the data exchange page must have tried to connect."""
    import psycopg
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient
    from minio import Minio
    from minio.error import S3Error

    def refuse(self, method, region, bucket_name=None, object_name=None, *args, **kwargs):
        raise S3Error(urllib3.HTTPResponse(status=404), "NoSuchKey", "", "", "", "", bucket_name, object_name)

    monkeypatch.setattr(Minio, "_url_open", refuse)
    dsns = []

    def refuse_connection(dsn, *args, **kwargs):
        dsns.append(dsn)
        raise psycopg.OperationalError("no warehouse in a unit test")

    monkeypatch.setattr(psycopg, "connect", refuse_connection)
    spec = importlib.util.spec_from_file_location(
        "ibdc_airflow_plugin", PROJECT_DIR / "plugins" / "ibdc_airflow_plugin.py"
    )
    plugin_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin_module)
    apps = [entry["app"] for entry in plugin_module.IbdcPlugin.fastapi_apps]
    assert apps
    for app in apps:
        routes = [r for r in app.routes if isinstance(r, APIRoute) and "GET" in r.methods]
        for route in routes:
            for dependency in route.dependant.dependencies:
                app.dependency_overrides[dependency.call] = lambda: None
        with TestClient(app, raise_server_exceptions=False) as http:
            for route in routes:
                http.get(re.sub(r"\{[^}]+\}", "index.html", route.path))
        app.dependency_overrides.clear()
    assert dsns, "the data exchange page did not reach the warehouse"


def test_every_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, name
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", (name, image)


def test_every_bind_mount_exists(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_DIR / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)  # named volumes are declared


def test_airflow_runs_celery_with_redis_and_workers_scale(compose):
    services = compose["services"]
    assert services["airflow-worker"]["command"][:3] == ["airflow", "celery", "worker"]
    assert "container_name" not in services["airflow-worker"] and "ports" not in services["airflow-worker"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert "healthcheck" in services[name], name
    for name in ("airflow-scheduler", "airflow-worker"):  # who queues tasks, who takes them
        assert services[name]["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    # redis-cli reads the password from REDISCLI_AUTH: no healthcheck puts a secret on a command line.
    assert _secrets_in(services["redis"]["environment"]["REDISCLI_AUTH"]) == {"REDIS_PASSWORD"}
    required = set(SECRET_REF.findall(COMPOSE_FILE.read_text()))
    for name, service in services.items():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        assert not required & set(re.findall(r"\$\$\{?([A-Z0-9_]+)", test)), (name, test)


def test_services_get_every_variable_the_code_reads(compose, monkeypatch):
    """Each service gets the variables its code reads, derived from the code, and no secret it does not
    read: the simulator its client secret alone; the api-server the docs routes' object store settings
    (as the docs reader) and the data exchange page's DSN (the market's); the dag-processor what
    parsing the DAGs reads (no IBDC_* setting) and what the DAGs' failure callbacks read (it runs them:
    the alert's warehouse DSN, the loader's); the workers the pipeline's; the exchange API the market's
    (``plugins/ibdc/exchange``: its DSN, as ``ibdc_exchange``; Delta Sharing's public URL, the object
    store's endpoint and the exchange service's own S3 keys); the scheduler and triggerer run no
    platform code."""
    services = compose["services"]
    profiles = (PROJECT_DIR / "dbt_project" / "profiles.yml").read_text()
    dbt_vars = set(re.findall(r"env_var\('([A-Z_]+)'\)", profiles))
    connections = {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in connections_needed()}
    airflow = {k for k in airflow_defaults(Settings(pg_password="x")) if k.startswith("AIRFLOW")} - LOCAL_ONLY
    without_default = {name for name, field in Settings.model_fields.items() if field.default is None} - OPTIONAL
    pipeline_code = [*(PROJECT_DIR / "plugins" / "ibdc").rglob("*.py"), *(PROJECT_DIR / "dags").glob("*.py")]
    pipeline_code = [p for p in pipeline_code if p.name != "settings.py" and EXCHANGE_CODE not in p.parents]
    parsed = []
    parsing = _fields_read_by(lambda: parsed.append(_parse_dags()), monkeypatch)
    callbacks = _failure_callbacks(parsed[0])
    assert callbacks, "no failure callback of plugins/ibdc found in the parsed DAGs"
    reads = {
        "airflow-worker": (_settings_fields_named(pipeline_code) - EXCHANGE_ONLY)
        | _settings_fields_named([PUBLISHER_CODE]),
        "exchange-api": _settings_fields_named(
            p for p in EXCHANGE_CODE.rglob("*.py") if p not in (PUBLISHER_CODE, PAGE_CODE)
        ),
        "airflow-api-server": _fields_read_by(lambda: _call_the_plugin_routes(monkeypatch), monkeypatch),
        "airflow-dag-processor": parsing
        | _fields_read_by(lambda: _run_failure_callbacks(callbacks, monkeypatch), monkeypatch),
        "airflow-scheduler": set(),
        "airflow-triggerer": set(),
        "simulator": _settings_fields_named((PROJECT_DIR / "dev" / "ibdc_dev" / "simulator").rglob("*.py")),
    }
    assert {"s3_access_key", "docs_bucket"} <= reads["airflow-api-server"], "did the calls reach the docs routes?"
    assert "exchange_reader_dsn" in reads["airflow-api-server"], "does the exchange page read settings.exchange_reader?"
    assert "exchange_dsn" not in reads["airflow-api-server"], "the page reads the market as its reader role only"
    assert "simulator_client_secret" in reads["simulator"] and "loader_dsn" in reads["airflow-worker"]
    assert "loader_dsn" in reads["airflow-dag-processor"], "did the failure callbacks reach the warehouse?"
    assert "exchange_dsn" in reads["exchange-api"], "does the market no longer connect as settings.exchange?"
    assert {"exchange_s3_access_key", "exchange_public_url"} <= reads["exchange-api"], "is Delta Sharing served?"
    # The administrator's settings are read only to build a role's DSN when none is given (compose
    # gives whole DSNs): no service but airflow-init gets them.
    needed = {name: {_env_var(f) for f in fields & without_default} - ADMIN for name, fields in reads.items()}
    needed["airflow-worker"] |= dbt_vars | connections
    for name in AIRFLOW_SERVICES:
        needed[name] |= airflow
    for name, variables in needed.items():
        env = services[name]["environment"]
        missing = sorted(v for v in variables if not env.get(v))
        assert not missing, (name, missing)
        assert not ADMIN & set(env), (name, "holds the warehouse administrator's credentials")
        # The secrets it may hold: those in the variables its code reads, and Airflow's own.
        allowed = set().union(*(_secrets_in(env[v]) for v in variables if v in env)) | AIRFLOW_SECRETS.get(name, set())
        assert not _secrets_held(services[name]) - allowed, (name, sorted(_secrets_held(services[name]) - allowed))
    assert set(services["simulator"]["environment"]) <= {"IBDC_SIMULATOR_CLIENT_SECRET", "DO_NOT_TRACK"}
    assert not any(
        v.startswith("IBDC_") for s in ("airflow-scheduler", "airflow-triggerer") for v in services[s]["environment"]
    )

    init = services["airflow-init"]
    assert "ibdc provision" in " ".join(init["command"])
    assert not sorted(v for v in ADMIN if not init["environment"].get(v))
    assert (
        not _secrets_held(init)
        - AIRFLOW_SECRETS["airflow-init"]
        - {
            "POSTGRES_PASSWORD",
            "IBDC_LOADER_PASSWORD",
            "IBDC_TRANSFORMER_PASSWORD",
            "IBDC_EXCHANGE_PASSWORD",
            "IBDC_EXCHANGE_READER_PASSWORD",
        }
    )
    worker = services["airflow-worker"]["environment"]
    for variable, role in (
        ("IBDC_LOADER_DSN", LOADER),
        ("IBDC_TRANSFORMER_DSN", TRANSFORMER),
        ("IBDC_EXCHANGE_DSN", EXCHANGE),
    ):
        assert worker[variable].startswith(f"postgresql://{role}:")  # the roles provision creates
    exchange = services["exchange-api"]["environment"]
    assert exchange["IBDC_EXCHANGE_DSN"].startswith(f"postgresql://{EXCHANGE}:")
    # No Airflow setting, no other service's object store key (the pipeline's IBDC_S3_ACCESS_KEY).
    assert set(exchange) <= {
        "IBDC_EXCHANGE_DSN",
        "IBDC_EXCHANGE_PUBLIC_URL",
        "IBDC_S3_ENDPOINT",
        "IBDC_EXCHANGE_S3_ACCESS_KEY",
        "IBDC_EXCHANGE_S3_SECRET_KEY",
        "DO_NOT_TRACK",
    }


def test_every_secret_is_required_and_the_example_lists_each(compose):
    """Every secret is ``${VAR:?message}`` (compose refuses to start with it unset), never a bare
    ``${VAR}`` nor a default; only the bind address, Airflow's and the exchange API's public URLs and the
    retention have defaults. .env.example lists every variable (the optional ones commented out)."""
    text = COMPOSE_FILE.read_text()
    bare = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)\}", text))
    defaulted = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+):-[^}]*\}", text))
    required = set(SECRET_REF.findall(text))
    assert not bare, f"a bare ${{VAR}} is empty when unset: {sorted(bare)}"
    assert defaulted == {
        "IBDC_BIND_ADDRESS",
        "IBDC_AIRFLOW_BASE_URL",
        "IBDC_EXCHANGE_PUBLIC_URL",
        "IBDC_RAW_RETENTION_DAYS",
    }
    assert {"AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "MINIO_ROOT_PASSWORD"} <= required
    example = {
        line.lstrip("#").split("=", 1)[0]
        for line in (PROJECT_DIR / ".env.example").read_text().splitlines()
        if re.match(r"#?[A-Z0-9_]+=", line)
    }
    assert required | defaulted == example
    assert not re.search(r"PASSWORD: [^$\s{]", text)  # no literal passwords in the file
    assert not re.search(r"(SECRET|_KEY): [^$\s{]", text)  # nor keys


def _run_check(names, values: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], **values}
    return subprocess.run(["/bin/sh", str(CHECK_SECRETS), *names], env=env, capture_output=True, text=True, timeout=30)


def _good_values(names) -> dict[str, str]:
    values = {name: secrets.token_urlsafe(24) for name in names}
    values.update(
        {name: f"ibdc-{name.lower().replace('_', '-')}" for name in names if name.endswith(("_USER", "_ACCESS_KEY"))}
    )
    values["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_urlsafe(32)
    return values


def test_the_secrets_check_runs_first_and_refuses_the_placeholders(compose):
    """deploy/check-secrets.sh, run as compose runs it (its command: every required secret): with
    .env.example's values it refuses each placeholder and exits 1; with random values it passes; a
    short value, a Fernet key that is not one, a short JWT secret, a value given twice are refused.
    Every service that stores anything waits for it."""
    services = compose["services"]
    check = services["secrets-check"]
    names = check["command"]
    assert set(names) == set(SECRET_REF.findall(COMPOSE_FILE.read_text()))
    assert check["entrypoint"] == ["/bin/sh", "/etc/ibdc/check-secrets.sh"]
    assert check["network_mode"] == "none" and "ports" not in check
    assert check["volumes"] == ["./deploy/check-secrets.sh:/etc/ibdc/check-secrets.sh:ro"]
    for name in ("postgres", "redis", "minio", "simulator"):
        assert services[name]["depends_on"]["secrets-check"]["condition"] == "service_completed_successfully", name
    # everything else waits for one of those (the init jobs, the Airflow services)
    for name, service in services.items():
        if name != "secrets-check":
            assert service.get("depends_on"), name

    example = {
        k: v
        for k, v in (
            line.split("=", 1)
            for line in (PROJECT_DIR / ".env.example").read_text().splitlines()
            if re.match(r"[A-Z]", line)
        )
    }
    placeholders = _run_check(names, example)
    assert placeholders.returncode == 1
    refused = set(re.findall(r"check-secrets: ([A-Z0-9_]+): still the \.env\.example placeholder", placeholders.stderr))
    assert refused == {k for k, v in example.items() if v.startswith("change-me")}
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in refused and "AIRFLOW__CORE__FERNET_KEY" in refused
    assert not any(v in placeholders.stderr for v in _good_values(names).values())

    good = _good_values(names)
    passed = _run_check(names, good)
    assert passed.returncode == 0, passed.stderr
    for name, weak, why in (
        ("REDIS_PASSWORD", "short-pw", "shorter than 16"),
        ("AIRFLOW__CORE__FERNET_KEY", secrets.token_urlsafe(40), "not a Fernet key"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(18), "shorter than 32"),
        ("IBDC_S3_SECRET_KEY", good["MINIO_ROOT_PASSWORD"], "the same value as another"),
        ("AIRFLOW_ADMIN_PASSWORD", "", "unset or empty"),
        ("MINIO_ROOT_PASSWORD", secrets.token_urlsafe(16) + "/x", "holds a character of /"),
    ):
        weakened = _run_check(names, {**good, name: weak})
        assert weakened.returncode == 1 and f"{name}: {why}" in weakened.stderr, (name, weakened.stderr)


def test_published_ports_bind_to_localhost_unless_told(compose):
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}
    assert set(published) == {"airflow-api-server", "minio", "exchange-api"}
    for name, ports in published.items():
        for port in ports:
            address, host, container = port.rsplit(":", 2)
            assert address == "${IBDC_BIND_ADDRESS:-127.0.0.1}" and host == container, (name, port)
    example = (PROJECT_DIR / ".env.example").read_text()
    assert re.search(r"^#?IBDC_BIND_ADDRESS=127\.0\.0\.1$", example, re.M)
    # Serving other machines: the URL Airflow's links and redirects point at is set beside the address.
    base_url = "${IBDC_AIRFLOW_BASE_URL:-http://localhost:8080}"
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["environment"]["AIRFLOW__API__BASE_URL"] == base_url, name
    assert re.search(r"^#?IBDC_AIRFLOW_BASE_URL=http://localhost:8080$", example, re.M)
    # Likewise the exchange API's: the URL buyers' Delta Sharing profiles name, by default its published port.
    api = compose["services"]["exchange-api"]
    port = api["command"][api["command"].index("--port") + 1]
    public_url = f"http://localhost:{port}"
    assert api["environment"]["IBDC_EXCHANGE_PUBLIC_URL"] == f"${{IBDC_EXCHANGE_PUBLIC_URL:-{public_url}}}"
    assert re.search(rf"^#?IBDC_EXCHANGE_PUBLIC_URL={re.escape(public_url)}$", example, re.M)


def test_airflow_logs_in_with_fab_and_airflow_init_makes_the_admin(compose):
    services = compose["services"]
    text = COMPOSE_FILE.read_text()
    assert "SIMPLE_AUTH_MANAGER" not in text and "passwords.json" not in text
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert services[name]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
    script = " ".join(services["airflow-init"]["command"])
    migrate, create = script.index("airflow db migrate"), script.index("python -m ibdc.airflow_users admin Admin")
    assert migrate < create  # FAB's tables come with db migrate (its db manager is the auth manager's)
    assert "password" not in script.lower()  # the password comes through the environment, never argv
    init_env = services["airflow-init"]["environment"]
    assert _secrets_in(init_env[airflow_users.PASSWORD_VAR]) == {"AIRFLOW_ADMIN_PASSWORD"}
    holders = {n for n, s in services.items() if "AIRFLOW_ADMIN_PASSWORD" in _secrets_held(s)}
    assert holders == {"airflow-init", "secrets-check"}
    jwt = {n for n, s in services.items() if "AIRFLOW__API_AUTH__JWT_SECRET" in _secrets_held(s)}
    assert jwt == {"airflow-api-server", "airflow-scheduler", "secrets-check"}


def _policy(name: str) -> dict:
    return json.loads((MINIO_INIT / name).read_text())


def test_each_service_has_its_own_object_store_user_and_only_the_init_jobs_hold_root(compose, monkeypatch):
    """The workers hold the pipeline's MinIO user, the api-server the docs reader's, the exchange API the
    exchange service's; minio-init creates each with its policy; root is held by minio and minio-init
    (and checked, with no network, by secrets-check). The pipeline's policy denies what would remove a
    version for good (the actions the local SeaweedFS denies that identity, but one: MinIO checks every
    upload into the raw bucket, whose default retention minio-init sets, against s3:PutObjectRetention,
    so the pipeline may put a retention on the raw bucket's objects, never in COMPLIANCE mode nor
    bypassing GOVERNANCE's), writes the docs bucket under the published prefix only, and the exchange
    bucket's Delta tables (get, put: a commit is a put with If-None-Match; no delete). The docs reader
    may get objects under that prefix and nothing else, as the local identity; the exchange service may
    get objects of the exchange bucket and list it, nothing else, as the local identity."""
    services = compose["services"]
    root = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    holders = {name for name, service in services.items() if root & _secrets_held(service)}
    assert holders == {"minio", "minio-init", "secrets-check"}
    worker, api = services["airflow-worker"]["environment"], services["airflow-api-server"]["environment"]
    assert _secrets_in(worker["IBDC_S3_ACCESS_KEY"]) == {"IBDC_S3_ACCESS_KEY"}
    assert _secrets_in(api["IBDC_S3_ACCESS_KEY"]) == {"IBDC_S3_DOCS_READER_ACCESS_KEY"}
    assert _secrets_in(api["IBDC_S3_SECRET_KEY"]) == {"IBDC_S3_DOCS_READER_SECRET_KEY"}
    market = services["exchange-api"]["environment"]
    assert _secrets_in(market["IBDC_EXCHANGE_S3_ACCESS_KEY"]) == {"IBDC_EXCHANGE_S3_ACCESS_KEY"}
    assert _secrets_in(market["IBDC_EXCHANGE_S3_SECRET_KEY"]) == {"IBDC_EXCHANGE_S3_SECRET_KEY"}
    assert "IBDC_S3_ACCESS_KEY" not in market and "IBDC_S3_SECRET_KEY" not in market
    s3_keys = {"IBDC_S3_SECRET_KEY", "IBDC_S3_DOCS_READER_SECRET_KEY", "IBDC_EXCHANGE_S3_SECRET_KEY"}
    for name, service in services.items():
        if name not in ("minio-init", "secrets-check"):
            assert len(s3_keys & _secrets_held(service)) <= 1, (name, "holds two services' object store keys")

    script = (MINIO_INIT / "init.sh").read_text()
    users = re.findall(r'^ensure_user "\$(\w+)" "\$(\w+)" ([\w-]+) ([\w.-]+)$', script, re.M)
    assert users == [
        ("IBDC_S3_ACCESS_KEY", "IBDC_S3_SECRET_KEY", "ibdc-pipeline", "pipeline-policy.json"),
        (
            "IBDC_EXCHANGE_S3_ACCESS_KEY",
            "IBDC_EXCHANGE_S3_SECRET_KEY",
            seaweedfs.EXCHANGE_IDENTITY,
            "exchange-policy.json",
        ),
        (
            "IBDC_S3_DOCS_READER_ACCESS_KEY",
            "IBDC_S3_DOCS_READER_SECRET_KEY",
            "ibdc-docs-reader",
            "docs-reader-policy.json",
        ),
    ]
    buckets = {name: Settings.model_fields[name].default for name in ("raw_bucket", "docs_bucket", "exchange_bucket")}
    for variable, bucket in (("RAW", "raw_bucket"), ("DOCS", "docs_bucket"), ("EXCHANGE", "exchange_bucket")):
        assert re.search(rf"^{variable}={buckets[bucket]}$", script, re.M), variable

    pipeline = _policy("pipeline-policy.json")
    retention = "s3:PutObjectRetention"
    raw_objects = f"arn:aws:s3:::{buckets['raw_bucket']}/*"
    keep_every_version = set(seaweedfs.KEEP_EVERY_VERSION) - {retention}
    assert "s3:BypassGovernanceRetention" in keep_every_version
    denied = [s for s in pipeline["Statement"] if s["Effect"] == "Deny" and "Condition" not in s]
    assert [set(s["Action"]) for s in denied] == [keep_every_version]
    assert {r.removeprefix("arn:aws:s3:::").split("/")[0] for r in denied[0]["Resource"]} == set(buckets.values())
    conditional = [s for s in pipeline["Statement"] if s["Effect"] == "Deny" and "Condition" in s]
    assert [(s["Action"], s["Condition"]) for s in conditional] == [
        ([retention], {"StringEquals": {"s3:object-lock-mode": "COMPLIANCE"}})
    ]
    assert raw_objects in conditional[0]["Resource"]
    allowed = [s for s in pipeline["Statement"] if s["Effect"] == "Allow"]
    actions = {a for s in allowed for a in s["Action"]}
    assert not actions & keep_every_version and not any("*" in a for a in actions)
    assert not any("Condition" in s for s in allowed)
    # The retention only on the raw bucket's objects (the one under a default retention), nowhere else.
    assert {r for s in allowed if retention in s["Action"] for r in s["Resource"]} == {raw_objects}
    docs_arn = f"arn:aws:s3:::{buckets['docs_bucket']}"
    on_docs = {(a, r) for s in allowed for r in s["Resource"] if r.startswith(docs_arn) for a in s["Action"]}
    assert ("s3:PutObject", f"{docs_arn}/{DOCS_PREFIX}*") in on_docs
    assert all(r in (docs_arn, f"{docs_arn}/{DOCS_PREFIX}*") and a != "s3:DeleteObject" for a, r in on_docs), on_docs
    # The exchange bucket: the publisher's Delta tables (ibdc.exchange.publish): their files and log
    # entries put (a commit is a put with If-None-Match: *, which MinIO checks as s3:PutObject), read
    # back and listed (delta-rs reads the log); nothing deleted, nothing beyond the bucket's own objects.
    exchange_arn = f"arn:aws:s3:::{buckets['exchange_bucket']}"
    on_exchange = {(a, r) for s in allowed for r in s["Resource"] if r.startswith(exchange_arn) for a in s["Action"]}
    for needed in (
        ("s3:PutObject", f"{exchange_arn}/*"),
        ("s3:GetObject", f"{exchange_arn}/*"),
        ("s3:ListBucket", exchange_arn),
    ):
        assert needed in on_exchange, needed
    assert all(r in (exchange_arn, f"{exchange_arn}/*") for _, r in on_exchange), on_exchange
    assert not {a for a, _ in on_exchange} & {"s3:DeleteObject", retention}, on_exchange

    reader = _policy("docs-reader-policy.json")
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in reader["Statement"]] == [
        ("Allow", ["s3:GetObject"], [f"{docs_arn}/{DOCS_PREFIX}*"])
    ]
    # The exchange service: get the exchange bucket's objects and list it; no write, no other bucket.
    market_policy = _policy("exchange-policy.json")
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in market_policy["Statement"])
    granted = {(a, r) for s in market_policy["Statement"] for a in s["Action"] for r in s["Resource"]}
    assert granted == {("s3:GetObject", f"{exchange_arn}/*"), ("s3:ListBucket", exchange_arn)}
    monkeypatch.setenv("IBDC_S3_ADMIN_ACCESS_KEY", "admin-key")
    monkeypatch.setenv("IBDC_S3_ADMIN_SECRET_KEY", "admin-secret")
    monkeypatch.setenv("IBDC_S3_DOCS_READER_ACCESS_KEY", "reader-key")
    monkeypatch.setenv("IBDC_S3_DOCS_READER_SECRET_KEY", "reader-secret")
    monkeypatch.setenv("IBDC_EXCHANGE_S3_ACCESS_KEY", "exchange-key")
    monkeypatch.setenv("IBDC_EXCHANGE_S3_SECRET_KEY", "exchange-secret")
    local_settings = Settings(
        s3_access_key="p",
        s3_secret_key="s",
        docs_bucket=buckets["docs_bucket"],
        exchange_bucket=buckets["exchange_bucket"],
    )
    local = {i["name"]: i["actions"] for i in seaweedfs.identities(local_settings)["identities"]}
    assert local[seaweedfs.DOCS_READER_IDENTITY] == [f"Read:{buckets['docs_bucket']}/{DOCS_PREFIX}*"]
    exchange_bucket = buckets["exchange_bucket"]
    assert local[seaweedfs.EXCHANGE_IDENTITY] == [f"Read:{exchange_bucket}", f"List:{exchange_bucket}"]
    # The local gateway's reader keeps the docs buckets granted before (the user's and the tests').
    kept = seaweedfs.identities(local_settings, [buckets["docs_bucket"], "a-docs"])["identities"][-1]["actions"]
    assert kept == [f"Read:a-docs/{DOCS_PREFIX}*", f"Read:{buckets['docs_bucket']}/{DOCS_PREFIX}*"]


FAKE_MC = """#!/bin/sh
# A stand-in for mc: records each call; answers as MinIO would for the state the test sets.
echo "mc $*" >> "$MC_LOG"
# Root's keys come through the environment (alias ibdc), as the test expects them.
[ "$MC_HOST_ibdc" = "$EXPECTED_MC_HOST" ] || { echo "fake mc: MC_HOST_ibdc is not root's URL" >&2; exit 3; }
case "$1 $2" in
    "stat "*) [ "$RAW_EXISTS" = 1 ] ;;
    "retention set") [ "$RAW_EXISTS" = 0 ] || [ "$RAW_LOCKED" = 1 ] ;;
    "admin policy")
        [ "$3" = entities ] && [ "$ATTACHED" = 1 ] && echo "Policy: ibdc-pipeline ibdc-exchange ibdc-docs-reader"
        true ;;
    *) true ;;
esac
"""


def _run_minio_init(tmp_path, **state) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    mc = bin_dir / "mc"
    mc.write_text(FAKE_MC)
    mc.chmod(mc.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "mc.log"
    log.unlink(missing_ok=True)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MC_LOG": str(log),
        **{k: str(v) for k, v in state.items()},
        **_good_values(
            [
                "MINIO_ROOT_USER",
                "MINIO_ROOT_PASSWORD",
                "IBDC_S3_ACCESS_KEY",
                "IBDC_S3_SECRET_KEY",
                "IBDC_S3_DOCS_READER_ACCESS_KEY",
                "IBDC_S3_DOCS_READER_SECRET_KEY",
                "IBDC_EXCHANGE_S3_ACCESS_KEY",
                "IBDC_EXCHANGE_S3_SECRET_KEY",
            ]
        ),
    }
    env["EXPECTED_MC_HOST"] = f"http://{env['MINIO_ROOT_USER']}:{env['MINIO_ROOT_PASSWORD']}@minio:9000"
    done = subprocess.run(["/bin/sh", str(MINIO_INIT / "init.sh")], env=env, capture_output=True, text=True, timeout=30)
    calls = log.read_text().splitlines() if log.exists() else []
    # Root's password is never on a command line (ps shows those): mc gets it from MC_HOST_ibdc.
    assert not any(env["MINIO_ROOT_PASSWORD"] in call for call in calls)
    return done, calls


def test_minio_init_locks_the_raw_bucket_and_is_idempotent(compose, tmp_path):
    """minio-init.sh against a recording ``mc`` (no MinIO here: this checks the script's decisions,
    the MinIO behaviour is tested on SeaweedFS in tests/integration/test_object_store_users.py):
    a new raw bucket is made with object lock and a default GOVERNANCE retention of
    IBDC_RAW_RETENTION_DAYS; a re-run finds it and sets the retention again; a raw bucket made before
    without lock keeps its data (no bucket made or removed), the run warns and goes on; the docs and
    exchange buckets are made when missing and versioned on every run; the users and
    policies are set on every run, a policy attached once. Root's keys reach mc through MC_HOST_ibdc
    (the fake refuses to run without them there), never its command line."""
    init = compose["services"]["minio-init"]
    assert init["entrypoint"] == ["/bin/sh", "/etc/ibdc/init.sh"]
    assert init["environment"]["IBDC_RAW_RETENTION_DAYS"] == "${IBDC_RAW_RETENTION_DAYS:-3650}"

    first, calls = _run_minio_init(tmp_path, RAW_EXISTS=0, RAW_LOCKED=0, ATTACHED=0, IBDC_RAW_RETENTION_DAYS=30)
    assert first.returncode == 0, first.stderr
    assert "mc mb --with-lock ibdc/ibdc-raw" in calls
    assert "mc retention set --default GOVERNANCE 30d ibdc/ibdc-raw" in calls
    assert calls.index("mc mb --with-lock ibdc/ibdc-raw") < calls.index(
        "mc retention set --default GOVERNANCE 30d ibdc/ibdc-raw"
    )
    assert "mc admin policy attach ibdc ibdc-pipeline --user ibdc-ibdc-s3-access-key" in calls
    assert "mc admin policy attach ibdc ibdc-docs-reader --user ibdc-ibdc-s3-docs-reader-access-key" in calls
    assert "mc admin policy attach ibdc ibdc-exchange --user ibdc-ibdc-exchange-s3-access-key" in calls
    assert any(re.fullmatch(r"mc admin policy create ibdc ibdc-exchange \S*/exchange-policy\.json", c) for c in calls)
    assert not any(" rm " in c or c.startswith(("mc rb", "mc rm")) for c in calls)
    for bucket in ("ibdc-raw", "ibdc-docs", "ibdc-exchange"):
        assert f"mc version enable ibdc/{bucket}" in calls, bucket
    for bucket in ("ibdc-docs", "ibdc-exchange"):
        made = f"mc mb --ignore-existing ibdc/{bucket}"
        assert made in calls and calls.index(made) < calls.index(f"mc version enable ibdc/{bucket}"), bucket

    again, calls = _run_minio_init(tmp_path, RAW_EXISTS=1, RAW_LOCKED=1, ATTACHED=1)
    assert again.returncode == 0, again.stderr
    assert not any(c.startswith("mc mb --with-lock") for c in calls) and "WARNING" not in again.stderr
    assert "mc retention set --default GOVERNANCE 3650d ibdc/ibdc-raw" in calls
    assert not any("policy attach" in c for c in calls)
    assert sum(c.startswith("mc admin user add") for c in calls) == 3  # the keys from .env again
    assert "mc version enable ibdc/ibdc-exchange" in calls  # versioned again, whatever was done meanwhile

    unlocked, calls = _run_minio_init(tmp_path, RAW_EXISTS=1, RAW_LOCKED=0, ATTACHED=1)
    assert unlocked.returncode == 0, unlocked.stderr
    assert "created without object lock" in unlocked.stderr
    assert not any(c.startswith(("mc mb --with-lock", "mc rb", "mc rm")) for c in calls)
    assert any(c.startswith("mc admin user add") for c in calls)  # the users all the same

    refused, _ = _run_minio_init(tmp_path, RAW_EXISTS=0, RAW_LOCKED=0, ATTACHED=0, IBDC_RAW_RETENTION_DAYS="ten")
    assert refused.returncode == 1 and "whole number of days" in refused.stderr


def test_the_compose_postgres_is_the_local_clusters_major_version(compose):
    from ibdc_dev.localstack import postgres

    tag = compose["services"]["postgres"]["image"].split(":")[1]
    assert int(tag.split(".")[0]) == postgres.MAJOR
    assert "pgdata:/var/lib/postgresql" in compose["services"]["postgres"]["volumes"]  # 18+: PGDATA's parent


def test_the_exchange_api_serves_the_warehouse_as_the_market_role_once_provisioned(compose):
    """Service exchange-api: the platform's image running ``uvicorn ibdc.exchange.api:app`` on the port
    it publishes, after airflow-init provisioned the market's schema and role (whose password it is
    given) and with the workers' warehouse (host, port, database), as ``ibdc_exchange``, and after
    minio-init made the exchange bucket and the exchange service's MinIO user, whose keys it holds (with
    the workers' object store endpoint); compose restarts it, and its healthcheck asks ``/health``
    (which reaches the database)."""
    services = compose["services"]
    api = services["exchange-api"]
    assert api["image"] == services["airflow-init"]["image"] and api["build"]["target"] == "platform"
    assert api["restart"] == "unless-stopped"
    assert api["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }
    command = api["command"]
    assert command[:2] == ["uvicorn", "ibdc.exchange.api:app"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert api["ports"] == [f"${{IBDC_BIND_ADDRESS:-127.0.0.1}}:{port}:{port}"]
    probe = " ".join(api["healthcheck"]["test"])
    assert f"http://localhost:{port}/health" in probe and not _secrets_in(probe)
    dsn = re.compile(r"postgresql://(\w+):\$\{(\w+):\?[^}]*\}@([\w.-]+:\d+/\w+)")
    role, password, where = dsn.fullmatch(api["environment"]["IBDC_EXCHANGE_DSN"]).groups()
    workers = dsn.fullmatch(services["airflow-worker"]["environment"]["IBDC_LOADER_DSN"]).groups()
    assert (role, password, where) == (EXCHANGE, "IBDC_EXCHANGE_PASSWORD", workers[2])
    assert _secrets_held(api) == {
        "IBDC_EXCHANGE_PASSWORD",
        "IBDC_EXCHANGE_S3_ACCESS_KEY",
        "IBDC_EXCHANGE_S3_SECRET_KEY",
    }
    # Delta Sharing: the object store the workers publish to (MinIO inside compose; a presigned URL names
    # it, so a buyer must reach it there: docker-compose.yml's LIMITATION), as the exchange's own user.
    assert api["environment"]["IBDC_S3_ENDPOINT"] == services["airflow-worker"]["environment"]["IBDC_S3_ENDPOINT"]
    assert "LIMITATION" in COMPOSE_FILE.read_text()
    s3_holders = {n for n, s in services.items() if "IBDC_EXCHANGE_S3_SECRET_KEY" in _secrets_held(s)}
    assert s3_holders == {"exchange-api", "minio-init", "secrets-check"}
    # The role's password reaches provisioning, which creates the role with it (ibdc.governance).
    init = services["airflow-init"]
    assert _secrets_in(init["environment"]["IBDC_EXCHANGE_PASSWORD"]) == {"IBDC_EXCHANGE_PASSWORD"}
    # The Airflow plugin's data exchange page (ibdc.exchange.page) reads the market as its reader role
    # (SELECT only), never as the market's own.
    page = services["airflow-api-server"]["environment"]
    reader = dsn.fullmatch(page["IBDC_EXCHANGE_READER_DSN"]).groups()
    assert reader == (EXCHANGE_READER, "IBDC_EXCHANGE_READER_PASSWORD", workers[2])
    assert "IBDC_EXCHANGE_PASSWORD" not in _secrets_held(services["airflow-api-server"])
    assert _secrets_in(init["environment"]["IBDC_EXCHANGE_READER_PASSWORD"]) == {"IBDC_EXCHANGE_READER_PASSWORD"}
    # The workers' publisher (dags/exchange_publish.py) too: the market's role executes the functions that
    # read a product's rows (ibdc.exchange.publish) and records the publication.
    assert services["airflow-worker"]["environment"]["IBDC_EXCHANGE_DSN"] == api["environment"]["IBDC_EXCHANGE_DSN"]
    holders = {n for n, s in services.items() if "IBDC_EXCHANGE_PASSWORD" in _secrets_held(s)}
    assert holders == {"exchange-api", "airflow-worker", "airflow-init", "secrets-check"}
