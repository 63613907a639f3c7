"""One browser test, as an engineer does it: log into the Airflow UI as the admin (FAB's login page) in
headless Chromium (Debian's package; no browser download), open the extract DAG, open its backfill
dialog, submit a range, and find the backfill through the API. The screenshot of the filled dialog is
kept in test-artifacts/."""

from __future__ import annotations

import pytest

from ibdc.settings import PROJECT_DIR
from ibdc_dev.localstack import airflow_runs
from ibdc_dev.localstack.airflow import ADMIN_USER
from tests.e2e.conftest import login_in_browser, pick_date

# The backfill the dialog asks for (March and April 2024 of Xinjiang).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset="industrial_output", provinces=["650000"], periods=["2024-03", "2024-04"]),
]

ARTIFACTS = PROJECT_DIR / "test-artifacts"
DAG = "ibdc_extract_industrial_output"


def test_backfill_from_the_ui(airflow, services, browser):
    airflow_runs.no_active_backfill(airflow, DAG)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login_in_browser(page, services.airflow_url, ADMIN_USER, services.airflow_admin_password)

    page.goto(f"{services.airflow_url}/dags/{DAG}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog").first
    dialog.get_by_text("Backfill", exact=True).click()
    pick_date(page, "From", "2024/03/01")
    pick_date(page, "To", "2024/04/01")
    dialog.get_by_text("All Runs", exact=True).click()  # "Missing Runs" finds none on a rerun of this test
    provinces = dialog.locator("textarea[name=element_provinces]")
    provinces.click()
    provinces.press_sequentially("650000")
    provinces.press("Tab")
    # Airflow 3.3's dialog sends the params as the runs' conf only with this box ticked (it reads
    # "Override parameters on existing runs", yet without it new runs get the defaults too).
    dialog.get_by_text("Override parameters on existing runs").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "airflow-backfill-dialog.png"), full_page=True)
    before = {b["id"] for b in airflow.get("/backfills", dag_id=DAG)["backfills"]}
    dialog.get_by_role("button", name="Run Backfill").click()

    def created():
        new = [b for b in airflow.get("/backfills", dag_id=DAG)["backfills"] if b["id"] not in before]
        return new and new[0]

    backfill = airflow.wait_for("the backfill submitted from the UI", created, timeout_s=60, every_s=1)
    page.screenshot(path=str(ARTIFACTS / "airflow-backfill-submitted.png"), full_page=True)
    assert backfill["from_date"].startswith("2024-03-01") and backfill["to_date"].startswith("2024-04-01")
    assert backfill["reprocess_behavior"] == "completed"
    assert backfill["dag_run_conf"]["provinces"] == ["650000"]
    airflow_runs.no_active_backfill(airflow, DAG)  # keep the stack quiet for the other tests
