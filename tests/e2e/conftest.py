"""A running Airflow (api-server, scheduler, dag-processor, triggerer) on the tests' metadata database,
driven over its REST API with authentication, as the UI drives it; headless Chromium for the browser
tests; the dbt docs published once for the tests that read them."""

from __future__ import annotations

import os
import shutil

import pytest

from ibdc.transform import docs
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import postgres
from ibdc_dev.localstack.airflow_api import AirflowApi
from ibdc_dev.localstack.processes import LOG_DIR

PREFIX = "airflow-test"


# Package scope: the scheduler stops when the e2e tests end, before other tests use the same metadata.
@pytest.fixture(scope="package")
def airflow(services):
    # A metadata database of its own each time: runs of an earlier `make test` (a backfill's months
    # already run) would change what these tests' backfills do.
    postgres.create_databases(services.warehouse, [services.airflow_db], fresh=True)
    local_airflow.run(services, "db", "migrate", log=LOG_DIR / "test-airflow-db-migrate.log")
    local_airflow.run(services, "dags", "reserialize", log=LOG_DIR / "test-airflow-reserialize.log")
    local_airflow.start_services(services, say=lambda m: None, prefix=PREFIX)
    try:
        api = AirflowApi(services.airflow_url, services.airflow_admin_password)
        for dag_id in ("ibdc_extract_industrial_output", "ibdc_transform_dbt", "ibdc_exchange_publish"):
            api.wait_for(f"{dag_id} parsed", lambda d=dag_id: api.exists(f"/dags/{d}"), timeout_s=180)
        yield api
    finally:
        local_airflow.stop_services(prefix=PREFIX)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that keep Chromium off the network: this machine reaches only the package registries.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser():
    """Headless Debian Chromium through Playwright (no browser download); skipped without it, failed in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed: sudo apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def published(services):
    """The dbt docs generated from the tests' warehouse and published to the tests' docs bucket."""
    docs.generate_and_publish()


def login_in_browser(page, url: str, username: str, password: str) -> None:
    """Sign in through the auth manager's login page (FAB's form) as ``username``."""
    page.goto(f"{url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/auth/login" not in u, timeout=30_000)


def pick_date(page, field: str, date: str) -> None:
    """Set the backfill dialog's date ``field`` ("From", "To") to ``date`` (YYYY/MM/DD), midnight."""
    page.get_by_text(field, exact=True).locator("..").get_by_test_id("datetime-input").click()
    page.get_by_placeholder("YYYY/MM/DD").last.fill(date)
    page.get_by_placeholder("HH:mm").last.fill("00:00")
    page.keyboard.press("Escape")
