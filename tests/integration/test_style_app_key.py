"""Style ``app_key``, its protocol against the simulator: refusals as codes in the body, resource ids,
paging. (What every style shares -- partitions against the truth, every province, wrong credentials --
is in test_styles.py; source faults in test_source_faults.py.)"""

import base64

import pytest
import requests

pytestmark = pytest.mark.integration

PROVINCE = "120000"
PERIOD = "2024-06"


def _resource(services, province: str, **params) -> dict:
    resp = requests.get(f"{services.sources_url}/p/{province}/openapi/v2/resource", params=params, timeout=10)
    assert resp.status_code == 200  # the portal refuses with a code in the body, never an HTTP status
    return resp.json()


def test_the_portal_refuses_unknown_resources_and_bad_parameters_with_codes(services):
    key = services.simulator_client_secret
    good = {"appKey": key, "resId": base64.b64encode(b"industrial_output").decode(), "period": PERIOD}
    assert _resource(services, PROVINCE, **good)["code"] == "00000"
    assert _resource(services, PROVINCE, **{**good, "appKey": key + "x"})["code"] == "10001"
    for res_id in ("aW5kdXN0cmlhbF9vdXRwdXQ", "industrial_output", base64.b64encode(b"secret_data").decode()):
        refused = _resource(services, PROVINCE, **{**good, "resId": res_id})
        assert (refused["code"], refused["data"]) == ("20001", None), res_id
    assert _resource(services, PROVINCE, **{**good, "period": "2024-13"})["code"] == "30001"
    assert _resource(services, PROVINCE, **{**good, "page": "0"})["code"] == "30001"
    assert _resource(services, PROVINCE, **{**good, "rows": "100000"})["code"] == "30001"
    # A province of another style has no app_key portal.
    assert (
        requests.get(f"{services.sources_url}/p/110000/openapi/v2/resource", params=good, timeout=10).status_code == 404
    )


def test_pages_beyond_the_end_are_empty_and_the_total_is_stable(services):
    params = {
        "appKey": services.simulator_client_secret,
        "resId": base64.b64encode(b"industrial_output").decode(),
        "period": PERIOD,
        "rows": 4,
    }
    seen, page = [], 1
    while True:
        data = _resource(services, PROVINCE, **params, page=page)["data"]
        assert data["page"] == page
        if not data["rows"]:
            break
        seen += [r["PRODUCT_CODE"] for r in data["rows"]]
        page += 1
    assert len(seen) == len(set(seen)) == data["total"] > 4
    assert page == -(-data["total"] // 4) + 1
