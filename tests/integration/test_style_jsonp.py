"""Style ``jsonp``, its protocol against the simulator: the callback asked for, malformed figures kept
as served, and the token (a query parameter) never in a log line. (What every style shares --
partitions against the truth, every province, wrong credentials -- is in test_styles.py; source faults
in test_source_faults.py.)"""

import logging

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import format_for
from ibdc.schemas import SCHEMAS
from tests.integration.style_truth import check_partition, served_records
from tests.manifests import stored_pages
from tests.partitions import Claim

PROVINCE = "520000"  # Guizhou
OUTPUT = "industrial_output"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(Claim(OUTPUT, ["450000"], ["2024-09"]), Claim(OUTPUT, ["360000"], ["2024-10"])),
]


def test_default_profile_malformed_figure_is_quarantined_with_its_text(services, truth, warehouse):
    # The default fault profile breaks Guangxi's crude steel figure ("12O,5x"-like): it stays as served.
    province, period = "450000", "2024-09"
    expected = truth(province, period)
    (bad,) = expected["malformed"]
    pipeline.extract_partition(OUTPUT, province, period)
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    checked = check_partition(warehouse, expected, load)
    _, record = served_records(checked.manifest, stored_pages(checked.manifest))[bad["position"]]
    served = record["current_month"]
    assert served.endswith("x") and "," in served


@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "truncated"])
def test_transient_faults_end_in_success_and_the_token_is_never_logged(
    services, source_faults, truth, warehouse, caplog, kind
):
    # (That they end in success test_source_faults.py tests for every style; here, what is logged.)
    province, period = "360000", "2024-10"
    source_faults([{"dataset": OUTPUT, "province": province, "kind": kind, "times": 2}])
    caplog.set_level(logging.WARNING, logger="ibdc.sources.adapters.base")
    caplog.set_level(logging.DEBUG, logger="urllib3")  # last: the capturing handler takes this level
    pipeline.extract_partition(OUTPUT, province, period)
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    check_partition(warehouse, truth(province, period), load)
    if kind == "truncated":  # the page was fetched again
        assert sum("undecodable (attempt" in r.getMessage() for r in caplog.records) == 2
    else:  # the session retried
        assert sum(r.getMessage().startswith("Retry: ") for r in caplog.records) == 2
    assert services.simulator_client_secret not in caplog.text


def test_the_portal_answers_javascript_with_the_callback_asked_for(services):
    url = f"{services.sources_url}/p/{PROVINCE}/jsonp/industrial_output.do"
    params = {"period": "2024-06", "pageNo": 2, "pageSize": 3, "token": services.simulator_client_secret}
    resp = requests.get(url, params={**params, "callback": "jQuery1124_$cb"}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/javascript"
    assert resp.content.startswith(b"jQuery1124_$cb({") and resp.content.endswith(b"});")
    page = format_for("jsonp").decode(SCHEMAS["industrial_output"], resp.content)
    assert page.num_records == 3
    for callback in ("alert(document.cookie)//", "a.b", "<script>", "x" * 200):
        assert requests.get(url, params={**params, "callback": callback}, timeout=10).status_code == 400
    assert requests.get(url, params={**params, "callback": "cb", "token": ""}, timeout=10).status_code == 401
    # Only the portal's own provinces answer in this style.
    other = f"{services.sources_url}/p/110000/jsonp/industrial_output.do"
    assert requests.get(other, params={**params, "callback": "cb"}, timeout=10).status_code == 404
