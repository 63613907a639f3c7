"""Security of the logins (issue 17, part 1), on a real Airflow with the FAB auth manager and headless
Chromium: the dbt docs routes answer nobody without a session, nor a user whose role lacks the docs
view; a viewer who signs in through the login page reads the docs, in a sandboxed page that cannot read
Airflow's session, and may not backfill; an operator may."""

from __future__ import annotations

import secrets

import pytest
import requests

from ibdc.settings import PROJECT_DIR
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack.airflow_api import AirflowApi
from tests.e2e.conftest import login_in_browser, pick_date

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_DIR / "test-artifacts"
DAG = "ibdc_extract_industrial_output"
DOCS = "/ibdc/dbt-docs"
DOCS_ROUTES = ("/", "/index.html", "/manifest.json", "/catalog.json", "/sources.json")
MART = "mart_industrial_output_monthly"
# A backfill the roles are asked for (a dry run creates nothing; a refused create neither).
BACKFILL = {"dag_id": DAG, "from_date": "2023-01-01T00:00:00Z", "to_date": "2023-02-01T00:00:00Z"}


def _user(services, role: str) -> tuple[str, str]:
    """A new user of ``role`` (a name of its own, a random password): (username, password)."""
    username, password = f"{role.lower()}-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    local_airflow.ensure_user(services, username, role, password)
    return username, password


@pytest.fixture(scope="module")
def viewer(airflow, services):
    return _user(services, "Viewer")


@pytest.fixture(scope="module")
def operator(airflow, services):
    return _user(services, "Op")


def test_docs_routes_refuse_requests_without_a_session(airflow, published):
    for route in DOCS_ROUTES:
        resp = requests.get(f"{airflow.url}{DOCS}{route}", allow_redirects=False, timeout=30)
        refused = resp.status_code == 401 or (resp.is_redirect and "/login" in resp.headers["location"])
        assert refused, f"{route}: {resp.status_code} {resp.text[:200]}"
        assert MART not in resp.text
    forged = requests.get(
        f"{airflow.url}{DOCS}/manifest.json", headers={"Authorization": "Bearer not.a.token"}, timeout=30
    )
    assert forged.status_code in (401, 403) and MART not in forged.text


def test_docs_routes_refuse_a_user_without_the_docs_view(airflow, services, published):
    """Logged in, yet refused: FAB's Public role holds no permission (the check is the view's, not
    only a login's)."""
    nobody = AirflowApi(airflow.url, *reversed(_user(services, "Public")))
    resp = nobody.session.get(f"{airflow.url}{DOCS}/manifest.json", timeout=30)
    assert resp.status_code == 403 and MART not in resp.text


def test_a_viewer_reads_the_docs_in_a_sandbox_and_may_not_backfill(airflow, services, published, browser, viewer):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login_in_browser(page, services.airflow_url, *viewer)
    fetch = "async (url) => { try { return (await fetch(url, {credentials: 'include'})).status }"
    fetch += " catch (e) { return e.name } }"
    api = f"{services.airflow_url}/api/v2/dags"
    # What a script in the UI's origin could do: call the API with the viewer's session.
    assert page.evaluate(fetch, api) == 200

    resp = page.goto(f"{services.airflow_url}{DOCS}/")
    assert resp.status == 200
    csp = resp.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp
    assert "connect-src 'none'" in csp and resp.headers["x-content-type-options"] == "nosniff"
    page.get_by_text(MART).first.wait_for(state="visible", timeout=60_000)  # dbt docs rendered its tree
    # The docs page runs in an opaque origin: its scripts reach neither the cookies nor the API.
    assert page.evaluate("() => window.origin") == "null"
    assert page.evaluate("() => { try { return document.cookie } catch (e) { return e.name } }") == "SecurityError"
    assert page.evaluate(fetch, api) == "TypeError"  # connect-src 'none': the request is not even sent

    # The backfill, refused to the viewer's session (the UI's cookie) and token.
    page.goto(f"{services.airflow_url}/dags/{DAG}")
    page.get_by_text(DAG).first.wait_for(state="visible", timeout=60_000)
    # The UI offers the dialog; the api-server refuses the viewer's dry run, and the dialog its submit.
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog").first
    dialog.get_by_text("Backfill", exact=True).click()
    pick_date(page, "From", "2023/01/01")
    with page.expect_response(lambda r: "/api/v2/backfills/dry_run" in r.url) as dry_run:
        pick_date(page, "To", "2023/02/01")
    assert dry_run.value.status == 403
    assert dialog.get_by_role("button", name="Run Backfill").is_disabled()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "airflow-viewer-backfill-refused.png"), full_page=True)
    as_viewer = AirflowApi(airflow.url, viewer[1], username=viewer[0])
    before = airflow.get("/backfills", dag_id=DAG)["total_entries"]
    for path in ("/backfills", "/backfills/dry_run"):
        refused = as_viewer.session.post(f"{airflow.url}/api/v2{path}", json=BACKFILL, timeout=30)
        assert refused.status_code == 403, refused.text
    assert airflow.get("/backfills", dag_id=DAG)["total_entries"] == before
    context.close()


def test_an_operator_may_backfill(airflow, operator, published):
    as_operator = AirflowApi(airflow.url, operator[1], username=operator[0])
    dry_run = as_operator.post("/backfills/dry_run", BACKFILL)
    assert dry_run["total_entries"] >= 1
    assert as_operator.session.get(f"{airflow.url}{DOCS}/manifest.json", timeout=30).status_code == 200


def test_an_operator_may_trigger_a_run_and_a_viewer_may_not(airflow, operator, viewer):
    """On the DAG paused (the run it creates stays queued, and is deleted after)."""
    was_paused = airflow.get(f"/dags/{DAG}")["is_paused"]
    airflow.patch(f"/dags/{DAG}", {"is_paused": True})
    trigger = {"logical_date": None, "note": "test_logins: an operator's trigger"}
    try:
        as_viewer = AirflowApi(airflow.url, viewer[1], username=viewer[0])
        refused = as_viewer.session.post(f"{airflow.url}/api/v2/dags/{DAG}/dagRuns", json=trigger, timeout=30)
        assert refused.status_code == 403, refused.text
        as_operator = AirflowApi(airflow.url, operator[1], username=operator[0])
        run = as_operator.post(f"/dags/{DAG}/dagRuns", trigger)
        try:
            assert run["state"] == "queued" and run["run_type"] == "manual", run
        finally:
            airflow.delete(f"/dags/{DAG}/dagRuns/{run['dag_run_id']}")
    finally:
        airflow.patch(f"/dags/{DAG}", {"is_paused": was_paused})
