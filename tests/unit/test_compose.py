"""docker-compose.yml cannot run here (no Docker engine); check everything that can be checked without one."""

import re

import pytest
import yaml

from ibdc.settings import LOADER, PROJECT_DIR, TRANSFORMER, Settings
from ibdc.sources.registry import connections_needed
from ibdc_dev.localstack.airflow import airflow_defaults

AIRFLOW_SERVICES = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
# Local-stack settings with no meaning in compose (ports, the local host, local paths chosen there).
LOCAL_ONLY = {
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL",
    "AIRFLOW_HOME",
}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


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
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert "healthcheck" in services[name], name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_services_get_every_variable_the_code_reads(compose):
    profiles = (PROJECT_DIR / "dbt_project" / "profiles.yml").read_text()
    dbt_vars = set(re.findall(r"env_var\('([A-Z_]+)'\)", profiles))
    # The settings that point at external services have no default: a deployment must set them.
    external = {
        f"IBDC_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if field.default is None
        # optional: the local cluster's password, Airflow's metadata DSN (compose sets Airflow's own), the
        # local admin login
        and name not in ("pg_password", "airflow_db_dsn", "airflow_admin_password")
    }
    # Who connects to the warehouse as what: the services that run tasks as the pipeline's two roles
    # (whole DSNs), never as the administrator; the init job as the administrator, provisioning the
    # roles with their passwords.
    admin = {"IBDC_WAREHOUSE_DSN", "IBDC_LOADER_PASSWORD", "IBDC_TRANSFORMER_PASSWORD"}
    pipeline = {"IBDC_LOADER_DSN", "IBDC_TRANSFORMER_DSN"}
    assert admin | pipeline <= external
    # each source's connection, or the simulator's for the sources it serves (all of them here)
    connections = {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in connections_needed()}
    airflow = {k for k in airflow_defaults(Settings(pg_password="x")) if k.startswith("AIRFLOW")} - LOCAL_ONLY
    assert dbt_vars and external and connections
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        missing = sorted(v for v in dbt_vars | (external - admin) | connections | airflow if not env.get(v))
        assert not missing, (name, missing)
        assert not admin & set(env), (name, "holds the warehouse administrator's credentials")
    init = compose["services"]["airflow-init"]
    assert "ibdc provision" in " ".join(init["command"])
    assert not sorted(v for v in admin | external | dbt_vars if not init["environment"].get(v))
    for variable, role in (("IBDC_LOADER_DSN", LOADER), ("IBDC_TRANSFORMER_DSN", TRANSFORMER)):
        assert compose["x-ibdc-env"][variable].startswith(f"postgresql://{role}:")  # the roles provision creates


def test_secrets_come_from_env_and_the_example_lists_each(compose):
    text = (PROJECT_DIR / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)\}", text))  # $${X} is the container's own variable
    example = {
        line.split("=", 1)[0]
        for line in (PROJECT_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert referenced == example
    assert not re.search(r"PASSWORD: [^$\s{]", text)  # no literal passwords in the file


def test_only_the_init_job_holds_the_object_store_root_and_the_pipeline_keeps_every_version(compose):
    """The services that run tasks use the pipeline's MinIO user, whose policy (created by minio-init)
    allows object reads, writes and deletes (a delete marker) on the two buckets and denies what would
    remove a version for good: the same actions the local SeaweedFS denies that identity."""
    import json

    from ibdc_dev.localstack import seaweedfs

    root = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    holders = {name for name, service in compose["services"].items() if root & set(service.get("environment", {}))}
    assert holders == {"minio", "minio-init"}
    assert compose["x-ibdc-env"]["IBDC_S3_ACCESS_KEY"] == "${IBDC_S3_ACCESS_KEY}"
    init = compose["services"]["minio-init"]
    assert "mc admin policy attach ibdc ibdc-pipeline" in init["command"][0]
    policy = json.loads((PROJECT_DIR / "deploy" / "minio-init" / "pipeline-policy.json").read_text())
    denied = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert [set(s["Action"]) for s in denied] == [set(seaweedfs.KEEP_EVERY_VERSION)]
    # the deployment's buckets: the settings' defaults (a test run points its own environment elsewhere)
    buckets = {Settings.model_fields[name].default for name in ("raw_bucket", "docs_bucket")}
    for statement in policy["Statement"]:
        assert {r.removeprefix("arn:aws:s3:::").split("/")[0] for r in statement["Resource"]} == buckets
    allowed = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    assert not allowed & set(seaweedfs.KEEP_EVERY_VERSION) and not any("*" in a for a in allowed)


def test_the_compose_postgres_is_the_local_clusters_major_version(compose):
    from ibdc_dev.localstack import postgres

    tag = compose["services"]["postgres"]["image"].split(":")[1]
    assert int(tag.split(".")[0]) == postgres.MAJOR
    assert "pgdata:/var/lib/postgresql" in compose["services"]["postgres"]["volumes"]  # 18+: PGDATA's parent
