"""The simulator over HTTP: the rest_json style as the extract adapter sees it, the portals' style
map, and the admin endpoint that switches faults."""

import pytest
import requests

pytestmark = pytest.mark.integration


def _token(services, province="330000", secret=None):
    return requests.post(
        f"{services.sources_url}/p/{province}/oauth/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": province,
            "client_secret": secret or services.simulator_client_secret,
        },
    )


def test_data_needs_a_valid_bearer_token(services):
    url = f"{services.sources_url}/p/330000/api/v1/industrial_output"
    assert requests.get(url, params={"period": "2025-06"}, timeout=10).status_code == 401
    assert _token(services, secret="wrong").status_code == 401
    other = _token(services, province="320000").json()["access_token"]
    resp = requests.get(url, params={"period": "2025-06"}, headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert resp.status_code == 401  # a token is valid for its own province only


def test_pages_cover_the_total_exactly_once(services):
    token = _token(services).json()["access_token"]
    url = f"{services.sources_url}/p/330000/api/v1/industrial_output"
    seen, offset = [], 0
    while True:
        doc = requests.get(
            url,
            params={"period": "2025-06", "offset": offset, "limit": 4},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        seen += [i["product_code"] for i in doc["items"]]
        offset += len(doc["items"])
        if offset >= doc["total"]:
            break
    assert len(seen) == doc["total"] == len(set(seen)) > 4


def test_a_province_answers_only_in_its_own_style(services):
    portals = requests.get(f"{services.sources_url}/portals", timeout=10).json()
    assert len(portals) == 31
    assert portals["320000"]["style"] == "rest_json" and portals["120000"]["style"] == "app_key"
    # Tianjin publishes through an app-key API: the rest_json token endpoint does not exist there.
    assert _token(services, province="120000").status_code == 404


def test_faults_need_the_admin_secret(services):
    url = f"{services.sources_url}/admin/faults"
    fault = [{"dataset": "industrial_output", "province": "330000", "kind": "server_error"}]
    assert requests.post(url, json=fault, timeout=10).status_code == 401
    assert requests.post(url, json=fault, headers={"X-Admin-Secret": "wrong"}, timeout=10).status_code == 401
    bad = [{"dataset": "industrial_output", "province": "330000", "kind": "malformed"}]  # no malformation
    headers = {"X-Admin-Secret": services.simulator_client_secret}
    assert requests.post(url, json=bad, headers=headers, timeout=10).status_code == 422


def test_telemetry_pages_follow_faults_switched_on_and_off(services, source_faults):
    """The simulator builds a province-day once for all its pages (issue 13): a fault switched on
    or off at run time still changes the very next page."""
    url = f"{services.sources_url}/p/330000/api/v1/equipment_telemetry"
    headers = {"Authorization": f"Bearer {_token(services).json()['access_token']}"}

    def page() -> list[dict]:
        params = {"period": "2026-10-01", "offset": 0, "limit": 20}
        return requests.get(url, params=params, headers=headers, timeout=30).json()["items"]

    before = page()
    assert len(before) == 20 and not before[9]["ts"].startswith("2099")
    source_faults(
        [
            {
                "dataset": "equipment_telemetry",
                "province": "330000",
                "kind": "malformed",
                "malformation": "future_date",
                "field": "ts",
                "every": 10,
            }
        ]
    )
    broken = page()
    assert [i for i, r in enumerate(broken) if r["ts"].startswith("2099")] == [9, 19]
    cleared = requests.delete(
        f"{services.sources_url}/admin/faults", headers={"X-Admin-Secret": services.simulator_client_secret}, timeout=10
    )
    cleared.raise_for_status()
    assert page() == before
