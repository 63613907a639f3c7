"""docker-compose.yml cannot run here (no Docker engine); check what can be checked without one."""

import yaml

from ibdc.settings import PROJECT_DIR


def _compose():
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


def test_every_image_is_pinned_to_a_version():
    for name, service in _compose()["services"].items():
        image = service.get("image")
        assert image, name
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", (name, image)


def test_every_bind_mount_exists():
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_DIR / source).exists(), (name, source)


def test_services_get_the_settings_the_code_reads():
    env = _compose()["services"]["airflow-scheduler"]["environment"]
    for var in (
        "IBDC_WAREHOUSE_DSN",
        "IBDC_S3_ENDPOINT",
        "IBDC_S3_ACCESS_KEY",
        "IBDC_S3_SECRET_KEY",
        "IBDC_SIMULATOR_URL",
        "AIRFLOW_CONN_IBDC_SIMULATOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "IBDC_DBT_HOST",
        "IBDC_DBT_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
    ):
        assert env.get(var), var
