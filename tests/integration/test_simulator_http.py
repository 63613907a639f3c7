"""The simulator's rest_json style over HTTP, as the extract adapter sees it."""

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
    url = f"{services.sources_url}/p/330000/api/v1/industrial-output"
    assert requests.get(url, params={"period": "2025-06"}, timeout=10).status_code == 401
    assert _token(services, secret="wrong").status_code == 401
    other = _token(services, province="320000").json()["access_token"]
    resp = requests.get(url, params={"period": "2025-06"}, headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert resp.status_code == 401  # a token is valid for its own province only


def test_pages_cover_the_total_exactly_once(services):
    token = _token(services).json()["access_token"]
    url = f"{services.sources_url}/p/330000/api/v1/industrial-output"
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
