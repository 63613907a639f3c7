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
