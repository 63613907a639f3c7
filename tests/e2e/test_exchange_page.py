"""The data exchange page in the Airflow UI (issue 22, the operator's view), on the tests' Airflow with the
FAB auth manager and headless Chromium: a visitor without a session is sent to the login page; the
admin, signing in there, comes back to the page and sees the agreement this test made (FINALIZED, its
reads of the limit), the buyer's markup name as text and the ledger's verification, and finds the page
in the UI's Browse menu; a Viewer is refused it (an operator's page), an Op may read it."""

from __future__ import annotations

import secrets

import pytest
import requests

from ibdc.settings import PROJECT_DIR
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack.airflow import ADMIN_USER
from ibdc_dev.localstack.airflow_api import AirflowApi
from tests.exchange_walk import HOSTILE, MAX_READS, finalized_agreement

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_DIR / "test-artifacts"
PAGE = "/ibdc/exchange/"


@pytest.fixture(scope="module")
def walk(services):
    return finalized_agreement(services.exchange)


def test_a_visitor_without_a_session_is_sent_to_the_login(airflow, walk):
    resp = requests.get(f"{airflow.url}{PAGE}", allow_redirects=False, timeout=30)
    assert resp.status_code == 303, resp.text[:300]
    assert "/auth/login" in resp.headers["location"] and "next=" in resp.headers["location"]
    assert str(walk.agreement.agreement_id) not in resp.text
    forged = requests.get(f"{airflow.url}{PAGE}", headers={"Authorization": "Bearer not.a.token"}, timeout=30)
    assert forged.status_code == 403 and str(walk.agreement.agreement_id) not in forged.text


def test_the_admin_signs_in_and_sees_the_agreement_and_the_ledgers_verification(airflow, services, browser, walk):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{services.airflow_url}{PAGE}")
    page.get_by_label("Username").fill(ADMIN_USER)  # the login page the visitor was sent to
    page.get_by_label("Password").fill(services.airflow_admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: u.endswith(PAGE), timeout=30_000)  # and back to the page

    agreement = page.locator("#agreements tr", has_text=str(walk.agreement.agreement_id))
    agreement.wait_for(state="visible", timeout=30_000)
    row = agreement.inner_text()
    assert "active" in row and "FINALIZED" in row and f"1 of {MAX_READS}" in row, row
    assert walk.consumer.name in row and "AcademicResearch" in row  # the name as text, as registered
    assert page.evaluate("() => document.scripts.length") == 0  # no script, the buyer's name's included
    assert HOSTILE in page.locator("#reads").inner_text()  # the read, its actor named
    verification = page.locator("#verification").inner_text()
    assert verification.startswith("Ledger verified:") and "chain intact" in verification, verification
    products = page.locator("#products tr", has_text=walk.product.product_id).inner_text()
    assert "level 1" in products and "level 2" not in products and "ODCS contract" in products
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "airflow-data-exchange.png"), full_page=False)

    # The UI's navigation: Browse -> Data exchange shows the page inside the UI.
    page.goto(f"{services.airflow_url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_text("Data exchange", exact=True).click()
    page.wait_for_url(lambda u: u.endswith("/plugin/data-exchange"), timeout=30_000)
    framed = page.frame_locator("iframe").locator("#agreements")
    framed.get_by_text(str(walk.agreement.agreement_id), exact=True).wait_for(state="visible", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "airflow-data-exchange-in-ui.png"), full_page=False)
    context.close()


def test_a_viewer_is_refused_the_page_and_an_op_reads_it(airflow, services, walk):
    for role, status in (("Viewer", 403), ("Op", 200)):
        username, password = f"{role.lower()}-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
        local_airflow.ensure_user(services, username, role, password)
        resp = AirflowApi(airflow.url, password, username=username).session.get(f"{airflow.url}{PAGE}", timeout=60)
        assert resp.status_code == status, (role, resp.status_code, resp.text[:300])
        assert (str(walk.agreement.agreement_id) in resp.text) is (status == 200), role
